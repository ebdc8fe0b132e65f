// Capacity-planning step: profile files chosen in the file input are read in the browser and
// appended to the profiles text area, which the form posts (no upload of its own).
document.addEventListener("DOMContentLoaded", function () {
  var input = document.getElementById("profile-files");
  var area = document.getElementById("profiles");
  if (!input || !area) { return; }
  input.addEventListener("change", function () {
    Array.prototype.forEach.call(input.files, function (f) {
      f.text().then(function (t) {
        area.value = (area.value.trim() === "" ? "" : area.value.trim() + "\n") + t.trim() + "\n";
      });
    });
  });
});
