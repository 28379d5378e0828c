// The sources panel's js_on_load (`element` is the panel, a gr.HTML whose content is replaced
// on every answer): one delegated listener copies the Markdown kept beside a "Copy as briefing" button.
element.addEventListener('click', async (event) => {
  const button = event.target.closest('button.copy-briefing');
  if (!button) return;
  const text = button.parentElement.querySelector('textarea.briefing-md').value;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied ✓';
  } catch (err) {
    button.textContent = 'Copy failed: select the text below';
    const box = button.parentElement.querySelector('textarea.briefing-md');
    box.hidden = false;
    box.select();
  }
  setTimeout(() => { button.textContent = 'Copy as briefing'; }, 2500);
});
