// Evidence upload at the desk: each chosen file is started on the node,
// then sent in 8 MiB slices (Blob.slice) with the page's CSRF token, four
// PUTs in flight at once, each at its own offset (the node takes a slice
// wherever it belongs). A slice can be sent two ways: read into memory
// first, or handed to the browser as a part of the file, which it streams
// from the disk. Which costs the browser less depends on the machine (each
// was about a quarter faster than the other on one of two machines
// measured), and the browser's CPU is what limits an upload on a fast
// link, so a large file's first slices are sent in rounds of each way
// in turns, two each, and the rest the way whose rounds ended sooner.
// After a failed slice (a cut connection, the node restarting) the script
// stops handing out slices, lets those in flight end, asks the node for
// the upload's status and sends only the ranges it reports missing, so a
// file of several GiB survives interruptions. The progress bar counts the bytes the node has
// received; the status line follows; messages come from the page
// (data-msg-*), in the person's language. A page may set
// window.custosUploadTuning = {chunk, inFlight, way} (bytes, requests,
// "memory" or "file") before the upload starts; the upload bench uses it
// to compare settings.
(function () {
  "use strict";
  var CHUNK = 8 * 1024 * 1024;
  var IN_FLIGHT = 4;
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

  function tuning() {
    var t = window.custosUploadTuning || {};
    return {
      chunk: t.chunk > 0 ? Math.floor(t.chunk) : CHUNK,
      inFlight: t.inFlight > 0 ? Math.floor(t.inFlight) : IN_FLIGHT,
      way: t.way === "memory" || t.way === "file" ? t.way : null
    };
  }

  // The missing ranges cut into slices of at most `chunk` bytes, in order.
  function slices(missing, chunk) {
    var out = [];
    (missing || []).forEach(function (r) {
      for (var at = r.start; at < r.end; at += chunk) {
        out.push([at, Math.min(at + chunk, r.end)]);
      }
    });
    return out;
  }

  // A refusal below 500 is final, except out-of-order (the file would be in
  // too many pieces: sending what is missing fills the gaps); so is a file
  // that can no longer be read (changed or removed since it was chosen). A
  // lost connection or a failure of the node is tried again.
  function final(e) {
    if (e.name === "NotReadableError" || e.name === "NotFoundError") { return true; }
    return e.status && e.status < 500 && e.code !== "out-of-order";
  }

  async function sendFile(section, file, done, show) {
    var r = await fetch(section.dataset.start, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": token(),
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: "name=" + encodeURIComponent(file.name) + "&size=" + file.size
    });
    var view = await json(r);
    var settings = tuning();
    var failures = 0;
    done(view.received);
    while (!view.complete) {
      var queue = slices(view.missing, settings.chunk);
      var failed = null;
      var latest = view;
      // Sends slices from the queue `way`, at most `limit` of them.
      var worker = async function (way, limit) {
        while (queue.length > 0 && failed === null && limit > 0) {
          limit -= 1;
          var s = queue.shift();
          try {
            var part = file.slice(s[0], s[1]);
            var bytes = way === "memory" ? await part.arrayBuffer() : part;
            var put = await fetch(section.dataset.status + view.id + "?offset=" + s[0], {
              method: "PUT",
              credentials: "same-origin",
              headers: { "X-CSRF-Token": token(), "Content-Type": "application/octet-stream" },
              body: bytes
            });
            var answer = await json(put);
            // Answers may come back in any order: the fullest one counts.
            if (answer.received >= latest.received) { latest = answer; }
            done(latest.received);
          } catch (e) {
            // A slice streamed from a file that changed fails as a lost
            // connection would: reading a byte of it tells them apart.
            if (way === "file" && e.name === "TypeError") {
              try { await part.slice(0, 1).arrayBuffer(); } catch (unreadable) { e = unreadable; }
            }
            if (failed === null) { failed = e; }
          }
        }
      };
      var round = async function (way, limit) {
        var workers = [];
        for (var i = 0; i < settings.inFlight; i += 1) { workers.push(worker(way, limit)); }
        await Promise.all(workers);
      };
      // Enough left for two rounds of each way and more: time them, in
      // turns (one round each is too few to tell them apart reliably).
      if (settings.way === null && queue.length >= 6 * settings.inFlight) {
        var took = { memory: 0, file: 0 };
        var ways = ["memory", "file", "memory", "file"];
        for (var k = 0; k < ways.length; k += 1) {
          var started = performance.now();
          await round(ways[k], 1);
          took[ways[k]] += performance.now() - started;
        }
        if (failed === null) { settings.way = took.file < took.memory ? "file" : "memory"; }
      }
      var way = settings.way || "memory";
      // Where the upload bench reads the way taken.
      window.custosUploadWay = way;
      await round(way, Infinity);
      view = latest;
      if (failed === null) {
        failures = 0;
        if (view.complete) { break; }
      } else if (final(failed)) {
        throw failed;
      } else {
        show(section.dataset.msgResuming);
      }
      // Nothing more is sent until the node says what it holds.
      for (;;) {
        if (failed !== null) {
          failures += 1;
          if (failures > RETRIES) { throw failed; }
          await sleep(Math.min(500 * failures, 5000));
        }
        try {
          view = await status(section, view.id);
          done(view.received);
          break;
        } catch (e) {
          if (final(e)) { throw e; }
          // The node is not back yet: ask again after the next pause.
          failed = e;
        }
      }
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
          await sendFile(section, files[i], function (received) {
            bar.value = Math.floor(((before + received) * 100) / total);
          }, show);
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
