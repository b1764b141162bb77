/* Keyboard shortcuts of the review page (listed on the page under "Keyboard shortcuts"). */
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function follow(id) {
    var link = document.getElementById(id);
    if (link) { window.location.href = link.href; }
  }

  document.addEventListener("keydown", function (event) {
    var page = document.querySelector(".staff-review-page");
    if (!page) { return; }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "id_reject-reason") {
      event.preventDefault();
      document.querySelector("#reject-form button[value=reject]").click();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var approve = document.querySelector("#approve-form button[value=approve]");
    switch (event.key) {
      case "j": case "n": follow("next-pending"); break;
      case "k": case "p": follow("previous-pending"); break;
      case "q": window.location.href = page.dataset.queueUrl; break;
      case "a": if (approve) { event.preventDefault(); approve.click(); } break;
      case "r":
        var reason = document.getElementById("id_reject-reason");
        if (reason) { event.preventDefault(); reason.focus(); reason.scrollIntoView({block: "nearest"}); }
        break;
      case "e":
        var edit = document.querySelector("#edit-form details");
        if (edit) {
          event.preventDefault();
          edit.open = true;
          var editor = document.getElementById("id_edit-edited_content");
          if (editor) { editor.focus(); }
        }
        break;
      case "?":
        var help = document.getElementById("shortcuts");
        if (help) { help.open = !help.open; if (help.open) { help.scrollIntoView({block: "nearest"}); } }
        break;
      default: return;
    }
  });
}());
