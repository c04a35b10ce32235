// The web report form: a map point from the device's location, early file checks,
// and one submit per click (the server dedupes a double submit anyway).
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }

  var locate = document.getElementById("use-location");
  var status = document.getElementById("location-status");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        document.getElementById("id_lat").value = pos.coords.latitude.toFixed(6);
        document.getElementById("id_lng").value = pos.coords.longitude.toFixed(6);
        status.textContent = "✓";
      }, function (err) { status.textContent = err.message; }, { timeout: 10000 });
    });
  }

  var files = document.getElementById("id_attachments");
  var check = document.getElementById("attachment-check");
  function checkFiles() {
    var maxFiles = parseInt(files.dataset.maxFiles, 10);
    var maxBytes = parseInt(files.dataset.maxMb, 10) * 1024 * 1024;
    var problems = [];
    if (files.files.length > maxFiles) { problems.push(files.dataset.msgCount); }
    for (var i = 0; i < files.files.length; i++) {
      if (files.files[i].size > maxBytes) { problems.push(files.files[i].name + "：" + files.dataset.msgSize); }
    }
    check.textContent = problems.join("；");
    return problems.length === 0;
  }
  if (files) { files.addEventListener("change", checkFiles); }

  var anonymous = document.getElementById("id_anonymous");
  var name = document.getElementById("id_name");
  function syncAnonymous() { name.disabled = anonymous.checked; }
  if (anonymous && name) { anonymous.addEventListener("change", syncAnonymous); syncAnonymous(); }

  var submit = document.getElementById("report-submit");
  form.addEventListener("submit", function (event) {
    if (files && !checkFiles()) { event.preventDefault(); return; }
    submit.disabled = true;
    submit.textContent = submit.dataset.busy;
  });
})();
