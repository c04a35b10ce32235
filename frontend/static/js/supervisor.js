// The supervisor's KPI charts (Chart.js from the npm registry, served under /static/vendor/).
// Without Chart.js the page keeps its tables and says why there are no charts.
(function () {
  "use strict";
  var box = document.getElementById("kpi-charts");
  var dataEl = document.getElementById("chart-data");
  if (!box || !dataEl) { return; }
  var data = JSON.parse(dataEl.textContent);
  var note = document.getElementById("charts-note");
  if (typeof window.Chart === "undefined") {
    note.textContent = box.dataset.noCharts;
    note.hidden = false;
    box.querySelector(".kpi-tables").open = true;
    return;
  }
  var metric = document.getElementById("chart-metric");
  var brand = getComputedStyle(document.documentElement).getPropertyValue("--brand").trim() || "#b8282e";
  var charts = {};

  function config(by) {
    var series = data.series[by];
    var horizontal = by !== "day";
    return {
      type: by === "day" ? "line" : "bar",
      data: {
        labels: series.labels,
        datasets: [{ label: data.labels[metric.value], data: series.metrics[metric.value], backgroundColor: brand, borderColor: brand, spanGaps: true }]
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (ctx) { var v = horizontal ? ctx.parsed.x : ctx.parsed.y; return v === null ? "—" : v + "%"; } } } },
        scales: horizontal ? { x: { min: 0, max: 100 } } : { y: { min: 0, max: 100 } }
      }
    };
  }

  ["department", "category", "area", "day"].forEach(function (by) {
    var canvas = document.getElementById("chart-" + by);
    if (canvas && data.series[by]) { charts[by] = new window.Chart(canvas, config(by)); }
  });

  metric.addEventListener("change", function () {
    Object.keys(charts).forEach(function (by) {
      var chart = charts[by];
      chart.data.datasets[0].data = data.series[by].metrics[metric.value];
      chart.data.datasets[0].label = data.labels[metric.value];
      chart.update();
    });
  });
})();
