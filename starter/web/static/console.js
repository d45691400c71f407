// The console's only script: CSRF header on htmx requests, dialogs, toasts, browser notifications and sound.
// No inline scripts anywhere: the Content-Security-Policy allows only files served from /static.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  // Every htmx request carries the session's synchronizer token.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });

  // A live refresh never replaces a panel while the operator is filling in one of its dialogs.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "order-panel" && elt.querySelector("dialog[open]")) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    var opener = target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && typeof dialog.showModal === "function") { dialog.showModal(); }
      return;
    }
    var closer = target.closest("[data-close-dialog]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) { open.close(); }
      return;
    }
    var dismiss = target.closest(".toast .close");
    if (dismiss) { dismiss.closest(".toast").remove(); }
  });

  // A dialog's form sent with htmx closes its dialog; the answer replaces the panel.
  // A live refresh already on its way when a dialog opened is dropped instead of closing the dialog under the
  // operator's hands; the next change refreshes the panel again.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var dialog = event.detail.requestConfig && event.detail.requestConfig.elt &&
      event.detail.requestConfig.elt.closest && event.detail.requestConfig.elt.closest("dialog");
    if (dialog && dialog.open) { dialog.close(); return; }
    var target = event.detail.target;
    if (target && target.id === "order-panel" && target.querySelector("dialog[open]")) {
      event.detail.shouldSwap = false;
    }
  });

  // The stream's `logged-out` (logout elsewhere, expiry, a disabled operator) names no part of the page, so htmx
  // raises no event for it: it is heard on the stream itself, and the page reloads to the login form. The same
  // listener added again when the stream reopens is ignored by the browser.
  function reloadToLogIn() { window.location.reload(); }
  document.addEventListener("htmx:sseOpen", function (event) {
    var source = event.detail && event.detail.source;
    if (source) { source.addEventListener("logged-out", reloadToLogIn); }
  });

  // --- new-order notifications -------------------------------------------------------------------------------

  var SOUND_KEY = "oms.sound";

  function soundOn() { return window.localStorage.getItem(SOUND_KEY) === "on"; }

  // One audio context for the page's life: browsers limit how many a page may open.
  var audio = null;

  function chime() {
    var AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) { return; }
    var context = audio = audio || new AudioContext();
    var oscillator = context.createOscillator();
    var gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.4);
    oscillator.connect(gain);
    gain.connect(context.destination);
    oscillator.start();
    oscillator.stop(context.currentTime + 0.4);
  }

  document.addEventListener("htmx:sseMessage", function (event) {
    var message = event.detail;
    if (!message) { return; }
    if (message.type !== "new-order") { return; }
    var toasts = document.getElementById("toasts");
    var toast = toasts ? toasts.querySelector(".toast") : null;
    if (toast) {
      window.setTimeout(function () { toast.remove(); }, 10000);
      if ("Notification" in window && Notification.permission === "granted") {
        var link = toast.querySelector("a");
        var note = new Notification(toast.getAttribute("data-title"), { body: toast.getAttribute("data-body"), tag: toast.getAttribute("data-title") });
        note.onclick = function () { window.focus(); if (link) { window.location.href = link.href; } };
      }
    }
    if (soundOn()) { chime(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var allow = document.getElementById("allow-notifications");
    if (allow) {
      if (!("Notification" in window)) { allow.hidden = true; }
      else if (Notification.permission === "granted") { allow.textContent = "Notifications on"; allow.disabled = true; }
      allow.addEventListener("click", function () {
        Notification.requestPermission().then(function (permission) {
          if (permission === "granted") { allow.textContent = "Notifications on"; allow.disabled = true; }
        });
      });
    }
    var sound = document.getElementById("sound-toggle");
    if (sound) {
      sound.checked = soundOn();
      sound.addEventListener("change", function () {
        window.localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
        if (sound.checked) { chime(); }
      });
    }
  });
})();
