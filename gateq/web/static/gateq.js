// Progressive enhancement: live updates over server-sent events. Without
// JavaScript every page is complete as served; reloading brings it up to date.
(function () {
  "use strict";
  if (!window.EventSource) { return; }

  var queues = document.getElementById("queues");
  if (queues && queues.dataset.stream) {
    var status = new EventSource(queues.dataset.stream);
    status.addEventListener("status", function (event) {
      queues.innerHTML = event.data;
      queues.dataset.updated = String(Date.now());
    });
  }

  var log = document.getElementById("log");
  if (log && log.dataset.stream && log.dataset.finished !== "yes") {
    var stream = new EventSource(log.dataset.stream);
    stream.addEventListener("log", function (event) {
      var chunk = JSON.parse(event.data);
      var follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 8;
      log.appendChild(document.createTextNode(chunk.text));
      log.dataset.offset = String(chunk.offset);
      if (follow) { window.scrollTo(0, document.body.scrollHeight); }
    });
    stream.addEventListener("end", function () {
      stream.close();
      log.dataset.finished = "yes";
      var state = document.getElementById("build-state");
      if (state) { state.textContent = "finished (reload for its result)"; }
    });
  }
})();
