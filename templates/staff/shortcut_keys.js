  // Keyboard shortcuts step aside for what the focused element does itself (shared by the review queue and curation):
  // typing into a field, and Enter or Space on a focused button, link or other control (Skip skips, a link opens).
  var CONTROLS = "button, a[href], summary, [role=button], input, select, textarea, [contenteditable]";
  function typing(target) {
    // A field that takes typed letters (a text-like input, a select, a textarea, editable text).
    if (!target || !target.tagName) return false;
    if (target.isContentEditable || target.tagName === "SELECT" || target.tagName === "TEXTAREA") return true;
    return target.tagName === "INPUT" && !/^(checkbox|radio|button|submit|reset|image|file|range|color)$/.test(target.type);
  }
  function shortcutsStepAside(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return true;
    var target = event.target;
    if (typing(target)) return true;
    return (event.key === "Enter" || event.key === " ") && !!(target && target.closest && target.closest(CONTROLS));
  }
