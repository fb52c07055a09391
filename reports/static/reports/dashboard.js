/* The money dashboard's charts: each <canvas data-figures="ID"> draws the figures
   in the json_script element ID (reports/charts.py). Tooltips show the values as
   the server wrote them; the y axis formats its own ticks in the page's locale. */
(function () {
  "use strict";

  function tickFormat(figures) {
    function formatter(options) {
      if (figures.currency) {
        options.style = "currency";
        options.currency = figures.currency;
      }
      return new Intl.NumberFormat(figures.locale, options);
    }
    // Round ticks read "$1,000"; others keep the currency's digits: "$0.50";
    // on a phone large ones shorten ("IDR 160M") so the bars keep their room.
    var whole = formatter({ minimumFractionDigits: 0, maximumFractionDigits: 0 });
    var cents = formatter({
      minimumFractionDigits: figures.digits,
      maximumFractionDigits: figures.digits,
    });
    var compact = formatter({ notation: "compact", maximumFractionDigits: 1 });
    return function (value) {
      if (this.chart.width < 480 && Math.abs(value) >= 10000) {
        return compact.format(value);
      }
      return (Number.isInteger(value) ? whole : cents).format(value);
    };
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name);
    return value.trim() || fallback;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.figures);
    var figures = JSON.parse(source.textContent);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: figures.labels,
        datasets: [
          {
            label: figures.title,
            // Drawing only: the exact figures are in `shown` and the table.
            data: figures.values.map(Number),
            backgroundColor: cssVar("--primary", "#79aec8"),
            hoverBackgroundColor: cssVar("--secondary", "#417690"),
            maxBarThickness: 48,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) {
                return figures.dates[items[0].dataIndex];
              },
              label: function (item) {
                return figures.shown[item.dataIndex];
              },
            },
          },
        },
        scales: {
          x: {
            grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 8 },
          },
          y: {
            beginAtZero: true,
            grid: { color: cssVar("--hairline-color", "#e8e8e8") },
            ticks: {
              precision: figures.digits,
              callback: tickFormat(figures),
            },
          },
        },
      },
    });
  }

  Chart.defaults.color = cssVar("--body-quiet-color", "#666");
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  document.querySelectorAll("canvas[data-figures]").forEach(draw);
})();
