// gaussian dashboard: sortable tables and Plotly line charts (plotly.min.js is served by the app, not a CDN).
var gx = (function () {
  function cellValue(td) {
    var t = td.textContent.trim().replace(/,/g, "").replace(/%$/, "");
    var n = parseFloat(t);
    return (t === "-" || t === "") ? null : (isNaN(n) || !/^[-+]?[\d.]+(e[-+]?\d+)?$/i.test(t) ? t.toLowerCase() : n);
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var asc = th.getAttribute("data-dir") !== "asc";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a.cells[col]), y = cellValue(b.cells[col]);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var r = (typeof x === typeof y) ? (x < y ? -1 : 1) : (typeof x === "number" ? -1 : 1);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.classList.add("sort");
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });
  function lines(id, curves, ytitle) {
    var el = document.getElementById(id);
    if (!el || typeof Plotly === "undefined") return;
    var traces = curves.map(function (c) {
      return {x: c.x, y: c.y, name: c.run_id, type: "scatter", mode: "lines", line: {width: 1.5}};
    });
    if (!curves.some(function (c) { return c.x.length; })) { el.textContent = "no equity recorded"; return; }
    Plotly.newPlot(el, traces, {
      margin: {l: 60, r: 20, t: 10, b: 40}, height: 360, yaxis: {title: {text: ytitle}},
      legend: {orientation: "h", y: -0.15}, hovermode: "x unified"
    }, {displaylogo: false, responsive: true}).then(function () { el.setAttribute("data-ready", traces.length); });
  }
  return {lines: lines};
})();
