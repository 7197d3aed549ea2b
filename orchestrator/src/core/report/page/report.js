/*
 * The page's script, plain ES2017 for any current browser. It reads the data from the JSON script element
 * and writes every string from it through textContent, never as markup.
 */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];
  var PAGE = 50;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 12;

  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }
  function color(index) {
    return PALETTE[index % PALETTE.length];
  }
  // The time axis counts in the unit the run's length calls for (seconds for the demo, hours for a fleet
  // run), so its ticks are round numbers of that unit rather than repeated "0:00" labels.
  var UNITS = { s: { perMinute: 60, name: 'seconds' }, min: { perMinute: 1, name: 'minutes' }, h: { perMinute: 1 / 60, name: 'hours' } };
  var unit = data.timeline ? UNITS[data.timeline.unit] : UNITS.min;
  function atTime(minutes) {
    return minutes * unit.perMinute;
  }
  function points(values) {
    var out = [];
    values.forEach(function (value, index) {
      if (value !== null) out.push({ x: atTime(data.timeline.minutes[index]), y: value });
    });
    return out;
  }
  function empty(canvasId, message) {
    // The message takes the chart's place, box and all: no chart-high blank under a one-line note.
    var holder = document.getElementById(canvasId).parentNode;
    var note = node('p', 'empty', message);
    note.id = canvasId + '-empty';
    holder.parentNode.replaceChild(note, holder);
  }
  function timeAxis() {
    return { type: 'linear', min: 0, title: { display: true, text: unit.name + ' since the first event' } };
  }
  /** A count axis: whole numbers only (no "0.5 samples"). */
  function countAxis(title) {
    return { beginAtZero: true, ticks: { precision: 0 }, title: { display: !!title, text: title || '' } };
  }
  function line(label, values, index, extra) {
    var dataset = Object.assign(
      {
        label: label,
        data: points(values),
        borderColor: color(index),
        backgroundColor: color(index),
        pointRadius: 2,
        borderWidth: 2,
        tension: 0,
      },
      extra || {},
    );
    // A series of one or two points is drawn as points, or it would not show at all.
    if (dataset.data.length < 3) dataset.pointRadius = 4;
    return dataset;
  }
  function bars(canvasId, counts, label, horizontal) {
    var labels = Object.keys(counts);
    if (labels.length === 0) return empty(canvasId, 'nothing to show yet');
    new Chart(document.getElementById(canvasId), {
      type: 'bar',
      data: {
        labels: labels,
        datasets: [
          {
            label: label,
            data: labels.map(function (key) {
              return counts[key];
            }),
            backgroundColor: color(0),
          },
        ],
      },
      options: {
        indexAxis: horizontal ? 'y' : 'x',
        plugins: { legend: { display: false } },
        scales: horizontal ? { x: countAxis(), y: { beginAtZero: true } } : { x: { beginAtZero: true }, y: countAxis() },
      },
    });
  }
  function table(element, header, rows, numeric) {
    (header ? [header] : []).concat(rows).forEach(function (row, rowIndex) {
      var head = header && rowIndex === 0;
      var tr = document.createElement('tr');
      row.forEach(function (cell, cellIndex) {
        tr.appendChild(node(head ? 'th' : 'td', !head && numeric(cellIndex) ? 'num' : '', cell));
      });
      element.appendChild(tr);
    });
  }

  document.getElementById('title').textContent = data.title;
  document.getElementById('subtitle').textContent = data.subtitle;
  data.notes.forEach(function (note) {
    document.getElementById('notes').appendChild(node('p', '', note));
  });
  table(document.getElementById('summary'), null, data.summary, function () {
    return false;
  });

  var timeline = data.timeline;
  if (!timeline) {
    ['chart-rate', 'chart-progress', 'chart-cost'].forEach(function (id) {
      empty(id, 'no events.jsonl in this run');
    });
  } else {
    new Chart(document.getElementById('chart-rate'), {
      type: 'line',
      data: {
        datasets: timeline.rates
          .map(function (series, index) {
            return line(series.label, series.values, index);
          })
          .concat([
            line(timeline.inFlight.label, timeline.inFlight.values, 2, { yAxisID: 'inflight', borderDash: [4, 3], spanGaps: true }),
          ]),
      },
      options: {
        scales: {
          x: timeAxis(),
          y: { beginAtZero: true, title: { display: true, text: 'per minute (' + timeline.binSeconds + ' s bins)' } },
          inflight: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: 'in flight' } },
        },
      },
    });
    var accepted = timeline.progress[0].values;
    new Chart(document.getElementById('chart-progress'), {
      type: 'line',
      data: {
        datasets: timeline.progress
          .map(function (series, index) {
            return line(series.label, series.values, [2, 1][index]);
          })
          .concat([
            {
              type: 'scatter',
              label: 'invocation started',
              pointStyle: 'triangle',
              pointRadius: 7,
              borderColor: '#111827',
              backgroundColor: '#111827',
              data: timeline.invocations.map(function (minute) {
                var bin = timeline.minutes.findIndex(function (end) {
                  return end >= minute;
                });
                return { x: atTime(minute), y: bin > 0 ? accepted[bin - 1] : 0 };
              }),
            },
          ]),
      },
      options: { scales: { x: timeAxis(), y: countAxis('outputs') } },
    });
    if (timeline.cost.length === 0) empty('chart-cost', 'no priced model calls in the events');
    else
      new Chart(document.getElementById('chart-cost'), {
        type: 'line',
        data: {
          datasets: timeline.cost
            .map(function (series, index) {
              return line(series.label, series.values, index);
            })
            .concat(
              timeline.estimate.map(function (series, index) {
                return line(series.label, series.values, index + 6, { borderDash: [6, 4], pointRadius: 0 });
              }),
            ),
        },
        options: { scales: { x: timeAxis(), y: { beginAtZero: true, title: { display: true, text: 'USD (cumulative)' } } } },
      });
  }
  if (data.costTable.length > 0)
    table(document.getElementById('cost-table'), data.costTable[0], data.costTable.slice(1), function (index) {
      return index >= 2 && index <= 7;
    });

  bars('chart-reasons', data.rejectsByReason, 'rejected outputs', true);
  bars('chart-field', data.coverage.field, 'samples', true);
  bars('chart-question-type', data.coverage.question_type, 'samples', false);
  bars('chart-kind', data.coverage.kind, 'samples', false);
  bars('chart-difficulty', data.coverage.difficulty, 'samples', false);
  bars('chart-keywords', data.keywordLengths, 'keywords', false);

  table(document.getElementById('profiles'), ['profile', 'name', 'samples', 'rejects', 'attempts'], data.profiles, function (index) {
    return index >= 2;
  });

  var slots = data.browser.slots;
  var filterProfile = document.getElementById('filter-profile');
  var filterKind = document.getElementById('filter-kind');
  var filterReason = document.getElementById('filter-reason');
  function options(select, entries) {
    entries.forEach(function (entry) {
      select.appendChild(new Option(entry[1], entry[0]));
    });
  }
  var names = {};
  slots.forEach(function (slot) {
    if (slot.name) names[slot.profile] = slot.name;
  });
  options(
    filterProfile,
    [['', 'all profiles']].concat(
      Object.keys(names)
        .concat(
          slots.map(function (slot) {
            return slot.profile;
          }),
        )
        .filter(function (id, index, all) {
          return all.indexOf(id) === index;
        })
        .sort()
        .map(function (id) {
          return [id, names[id] ? id + ' (' + names[id] + ')' : id];
        }),
    ),
  );
  options(
    filterKind,
    [['', 'all kinds']].concat(
      slots
        .map(function (slot) {
          return slot.kind;
        })
        .filter(function (kind, index, all) {
          return all.indexOf(kind) === index;
        })
        .sort()
        .map(function (kind) {
          return [kind, kind];
        }),
    ),
  );
  options(
    filterReason,
    [
      ['', 'any'],
      ['-', 'no rejects'],
    ].concat(
      data.browser.reasons.map(function (reason) {
        return [reason, reason];
      }),
    ),
  );

  var shown = PAGE;
  function matching() {
    return slots.filter(function (slot) {
      if (filterProfile.value && slot.profile !== filterProfile.value) return false;
      if (filterKind.value && slot.kind !== filterKind.value) return false;
      if (filterReason.value === '-') return slot.rejects.length === 0;
      if (filterReason.value)
        return slot.rejects.some(function (reject) {
          return reject.reason === filterReason.value;
        });
      return true;
    });
  }
  function field(parent, label, text) {
    parent.appendChild(node('div', 'label', label));
    parent.appendChild(node('pre', '', text));
  }
  function renderSlot(slot) {
    var box = node('div', 'slot');
    box.setAttribute('data-slot', slot.id);
    box.setAttribute('data-profile', slot.profile);
    box.setAttribute('data-kind', slot.kind);
    box.setAttribute(
      'data-reasons',
      JSON.stringify(
        slot.rejects.map(function (reject) {
          return reject.reason;
        }),
      ),
    );
    var head = node('div', 'slot-head', slot.id);
    if (slot.name) head.appendChild(node('span', '', slot.name));
    box.appendChild(head);
    var pair = node('div', 'pair');
    var left = node('div', 'side accepted');
    var sample = slot.sample;
    left.appendChild(node('h4', '', sample ? 'accepted (attempt ' + sample.attempt + ', ' + sample.model + ')' : 'no accepted sample'));
    if (sample) {
      sample.history.forEach(function (turn) {
        field(left, turn.role, turn.content);
      });
      field(left, 'question (' + sample.question_type + ', ' + sample.difficulty + ')', sample.question);
      field(left, 'answer', sample.answer);
      var keywords = node('div');
      sample.keywords.forEach(function (keyword) {
        keywords.appendChild(node('span', 'kw', keyword));
      });
      left.appendChild(node('div', 'label', 'keywords'));
      left.appendChild(keywords);
      var details = document.createElement('details');
      details.appendChild(node('summary', '', 'reasoning'));
      details.appendChild(node('pre', '', sample.reasoning));
      left.appendChild(details);
    }
    var right = node('div', 'side rejected');
    // Red only when something was rejected: an accepted first attempt is not a warning.
    right.appendChild(
      node(
        'h4',
        slot.rejects.length === 0 ? 'none' : '',
        slot.rejects.length === 0 ? 'no rejected attempts' : slot.rejects.length + ' rejected',
      ),
    );
    slot.rejects.forEach(function (reject) {
      var item = node('div', 'reject');
      item.appendChild(node('span', 'reason', reject.reason));
      item.appendChild(node('span', 'label', 'attempt ' + reject.attempt + ', ' + reject.model));
      if (reject.detail) field(item, 'why', reject.detail);
      if (reject.raw_output) field(item, 'output', reject.raw_output);
      right.appendChild(item);
    });
    pair.appendChild(left);
    pair.appendChild(right);
    box.appendChild(pair);
    return box;
  }
  function renderBrowser() {
    var list = matching();
    var container = document.getElementById('browser');
    container.textContent = '';
    list.slice(0, shown).forEach(function (slot) {
      container.appendChild(renderSlot(slot));
    });
    document.getElementById('browser-count').textContent =
      list.length +
      ' of ' +
      slots.length +
      ' slots match' +
      (data.browser.totalSlots > slots.length ? ' (' + data.browser.totalSlots + ' in the run)' : '');
    document.getElementById('browser-more').hidden = list.length <= shown;
  }
  [filterProfile, filterKind, filterReason].forEach(function (select) {
    select.addEventListener('change', function () {
      shown = PAGE;
      renderBrowser();
    });
  });
  document.getElementById('browser-more').addEventListener('click', function () {
    shown += PAGE;
    renderBrowser();
  });
  renderBrowser();
  document.body.setAttribute('data-ready', 'true');
})();
