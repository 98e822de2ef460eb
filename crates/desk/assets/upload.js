// Evidence upload at the desk: each chosen file is started on the node,
// then sent in 8 MiB slices (Blob.slice) with the page's CSRF token, each
// PUT at the offset the node has received so far. After a failed slice
// (a cut connection, the node restarting) the script asks the node for the
// upload's status and continues from the offset it reports, so a file of
// several GiB survives interruptions. The progress bar and the status line
// follow; messages come from the page (data-msg-*), in the person's language.
(function () {
  "use strict";
  var CHUNK = 8 * 1024 * 1024;
  var RETRIES = 60;

  function token() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
    } catch (e) {
      return "";
    }
  }

  function sleep(ms) {
    return new Promise(function (r) { setTimeout(r, ms); });
  }

  async function json(response) {
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      var err = new Error(body.message || response.statusText);
      err.code = body.code || "";
      err.status = response.status;
      throw err;
    }
    return body;
  }

  async function status(section, id) {
    var r = await fetch(section.dataset.status + id, { credentials: "same-origin" });
    return json(r);
  }

  async function sendFile(section, file, done, total, show) {
    var r = await fetch(section.dataset.start, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": token(),
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: "name=" + encodeURIComponent(file.name) + "&size=" + file.size
    });
    var upload = await json(r);
    var offset = upload.received;
    var failures = 0;
    while (offset < file.size) {
      var end = Math.min(offset + CHUNK, file.size);
      try {
        var put = await fetch(section.dataset.status + upload.id + "?offset=" + offset, {
          method: "PUT",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": token(), "Content-Type": "application/octet-stream" },
          body: file.slice(offset, end)
        });
        var view = await json(put);
        offset = view.received;
        failures = 0;
      } catch (e) {
        // Refusals other than a wrong offset or a busy upload are final.
        if (e.status && e.status < 500 && e.code !== "out-of-order" && e.code !== "upload-in-progress") {
          throw e;
        }
        failures += 1;
        if (failures > RETRIES) { throw e; }
        show(section.dataset.msgResuming);
        await sleep(Math.min(500 * failures, 5000));
        try {
          offset = (await status(section, upload.id)).received;
        } catch (ignored) {
          // The node is not back yet: try again after the next pause.
        }
      }
      done(offset, total);
    }
  }

  function start(section) {
    var input = section.querySelector("#evidence-file");
    var button = section.querySelector("#evidence-upload");
    var bar = section.querySelector("#evidence-progress");
    var out = section.querySelector("#evidence-status");
    function show(text) { out.textContent = text; }
    button.addEventListener("click", async function () {
      var files = Array.prototype.slice.call(input.files || []);
      if (files.length === 0) { input.focus(); return; }
      button.disabled = true;
      var total = files.reduce(function (n, f) { return n + f.size; }, 0) || 1;
      var before = 0;
      try {
        for (var i = 0; i < files.length; i += 1) {
          show(section.dataset.msgSending + " " + files[i].name);
          await sendFile(section, files[i], function (offset) {
            bar.value = Math.floor(((before + offset) * 100) / total);
          }, total, show);
          before += files[i].size;
        }
        bar.value = 100;
        show(section.dataset.msgDone);
        window.location.reload();
      } catch (e) {
        show(section.dataset.msgFailed + " " + (e.message || ""));
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("evidence-upload-section");
    if (section) { start(section); }
  });
})();
