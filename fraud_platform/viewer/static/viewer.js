/* The dataset page: the day's accounts drawn with plotly.js's WebGL scatter (scattergl).
 *
 * Plotly's own hover labels are off (hoverinfo "none"): the details panel is filled with
 * textContent, so an account id is always shown as text, whatever characters it holds.
 * Traces: 0 accounts that are not high risk, 1 high-risk accounts (outlined, drawn on top),
 * 2 the selected account's links, 3 the highlighted accounts.
 */
(function () {
  "use strict";

  var ROLE_HIGH_RISK = 0;
  var ROLE_NEIGHBOUR = 1;
  var body = document.body;
  var graph = document.getElementById("graph");
  var state = {
    data: null,
    adjacency: null,
    highRiskOnly: false,
    selected: -1,
    highlighted: [],
    traceIndices: [[], [], [], []],
  };

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function count(value) {
    return Number(value).toLocaleString("en-US");
  }

  function money(value) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString("en-US", {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
  }

  function markerSize(size) {
    return 3 + 0.35 * (size || 0);
  }

  function buildAdjacency(data) {
    var lists = data.nodes.account.map(function () { return []; });
    var edges = data.edges;
    for (var i = 0; i < edges.source.length; i++) {
      var s = edges.source[i], t = edges.target[i];
      lists[s].push({ other: t, amount: edges.amount[i], count: edges.count[i], sent: true });
      lists[t].push({ other: s, amount: edges.amount[i], count: edges.count[i], sent: false });
    }
    lists.forEach(function (list) {
      list.sort(function (a, b) { return b.amount - a.amount; });
    });
    return lists;
  }

  function pointTrace(indices, outlined) {
    var nodes = state.data.nodes;
    return {
      type: "scattergl",
      mode: "markers",
      hoverinfo: "none",
      x: indices.map(function (i) { return nodes.x[i]; }),
      y: indices.map(function (i) { return nodes.y[i]; }),
      marker: {
        color: indices.map(function (i) { return nodes.color[i]; }),
        size: indices.map(function (i) { return markerSize(nodes.size[i]); }),
        opacity: outlined ? 1 : 0.8,
        line: outlined ? { color: "#7a0000", width: 1.5 } : { width: 0 },
      },
    };
  }

  function traces() {
    var roles = state.data.nodes.role;
    var others = [], high = [];
    for (var i = 0; i < roles.length; i++) {
      if (roles[i] === ROLE_HIGH_RISK) high.push(i);
      else if (!state.highRiskOnly || roles[i] === ROLE_NEIGHBOUR) others.push(i);
    }
    var nodes = state.data.nodes;
    var linkX = [], linkY = [];
    if (state.selected >= 0) {
      state.adjacency[state.selected].forEach(function (link) {
        linkX.push(nodes.x[state.selected], nodes.x[link.other], null);
        linkY.push(nodes.y[state.selected], nodes.y[link.other], null);
      });
    }
    var highlight = pointTrace(state.highlighted, false);
    highlight.marker.opacity = 1;
    highlight.marker.line = { color: "#111", width: 2 };
    state.traceIndices = [others, high, [], state.highlighted];
    return [
      pointTrace(others, false),
      pointTrace(high, true),
      {
        type: "scattergl",
        mode: "lines",
        hoverinfo: "skip",
        x: linkX,
        y: linkY,
        line: { color: "rgba(40, 40, 40, 0.55)", width: 1 },
      },
      highlight,
    ];
  }

  var plotLayout = {
    margin: { l: 8, r: 8, t: 8, b: 8 },
    xaxis: { visible: false },
    yaxis: { visible: false, scaleanchor: "x", scaleratio: 1 },
    dragmode: "pan",
    hovermode: "closest",
    showlegend: false,
    uirevision: "keep",
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
  };
  // plotly.js 4 offers by default to upload the chart to Plotly Cloud ("Share chart"): the
  // data of a fraud dataset must not leave the building, so that button and its URL are off.
  var plotConfig = {
    scrollZoom: true,
    displaylogo: false,
    responsive: true,
    showSendToCloud: false,
    plotlyServerURL: "",
    typesetMath: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "sendChartToCloud"],
  };

  function pointCount() {
    return state.traceIndices[0].length + state.traceIndices[1].length;
  }

  function showPointCount() {
    var drawn = pointCount();
    graph.dataset.points = String(drawn);
    document.getElementById("point-count").textContent = count(drawn) + " accounts drawn";
  }

  function redraw() {
    return Plotly.react(graph, traces(), plotLayout, plotConfig).then(showPointCount);
  }

  function describe(index, heading) {
    var nodes = state.data.nodes;
    var panel = document.getElementById("details");
    panel.replaceChildren();
    panel.appendChild(element("h2", heading));
    panel.appendChild(element("p", nodes.account[index], "account"));
    var list = element("dl");
    var high = nodes.risk_score[index] >= state.data.threshold;
    [
      ["risk_score", nodes.risk_score[index].toFixed(3) + (high ? " (high risk)" : "")],
      ["centrality", Number(nodes.centrality[index]).toExponential(3)],
      ["cluster", nodes.cluster[index]],
      ["money in", money(nodes.in_amount[index])],
      ["money out", money(nodes.out_amount[index])],
      ["counterparties", count(nodes.degree[index]) + " (" +
        count(state.adjacency[index].length) + " drawn)"],
    ].forEach(function (pair) {
      list.appendChild(element("dt", pair[0]));
      list.appendChild(element("dd", pair[1]));
    });
    panel.appendChild(list);
    var reasons = nodes.reasons ? nodes.reasons[index] : "";
    if (reasons) {
      panel.appendChild(element("h3", "Why this score"));
      var why = element("ul", null, "reasons");
      reasons.split("; ").forEach(function (reason) { why.appendChild(element("li", reason)); });
      panel.appendChild(why);
    }
    panel.dataset.account = nodes.account[index];
    if (index === state.selected) {
      panel.appendChild(element("h3", "Counterparties drawn, most money first"));
      var links = element("ol", null, "links");
      state.adjacency[index].slice(0, 15).forEach(function (link) {
        var item = element("li");
        var button = element("button", nodes.account[link.other], "account-link");
        button.type = "button";
        button.addEventListener("click", function () { select(link.other); });
        item.appendChild(button);
        item.appendChild(element("span", (link.sent ? " received " : " paid ") + money(link.amount) +
          " in " + count(link.count) + " transfer(s)"));
        links.appendChild(item);
      });
      panel.appendChild(links);
    }
  }

  function select(index) {
    state.selected = index;
    state.highlighted = [index].concat(state.adjacency[index].map(function (l) { return l.other; }));
    describe(index, "Selected account");
    graph.dataset.selected = state.data.nodes.account[index];
    graph.dataset.highlighted = String(state.highlighted.length);
    return redraw();
  }

  function clearSelection() {
    state.selected = -1;
    state.highlighted = [];
    delete graph.dataset.selected;
    graph.dataset.highlighted = "0";
    return redraw();
  }

  function highlightCluster(cluster) {
    state.selected = -1;
    state.highlighted = [];
    state.data.nodes.cluster.forEach(function (c, i) {
      if (c === cluster) state.highlighted.push(i);
    });
    graph.dataset.highlighted = String(state.highlighted.length);
    return redraw();
  }

  function pointIndex(event) {
    var point = event && event.points && event.points[0];
    if (!point) return -1;
    var indices = state.traceIndices[point.curveNumber] || [];
    var index = indices[point.pointIndex];
    return index === undefined ? -1 : index;
  }

  function coverageText(data) {
    var c = data.counts;
    var threshold = " (risk_score ≥ " + data.threshold + ")";
    var text;
    if (c.shown === c.accounts) {
      text = "All " + count(c.accounts) + " accounts are drawn: " + count(c.high_risk) +
        " high risk" + threshold + ", " + count(c.neighbours) + " of their counterparties and " +
        count(c.others) + " others.";
    } else {
      text = "Drawing " + count(c.shown) + " of " + count(c.accounts) + " accounts: " +
        count(c.high_risk_shown) + " of " + count(c.high_risk) + " high-risk" + threshold +
        ", " + count(c.neighbours_shown) + " of their " + count(c.neighbours) +
        " counterparties and a random " + count(c.others_shown) + " of the other " +
        count(c.others) + ". Left out: " + count(c.accounts - c.shown) + " accounts and " +
        count(c.edges - c.edges_shown) + " of " + count(c.edges) + " transfer pairs.";
    }
    if (data.layout !== "stored") text += " Positions " + data.layout + ".";
    return text;
  }

  function fillLegend(data) {
    var legend = document.getElementById("legend");
    data.clusters.forEach(function (cluster) {
      var item = element("li");
      var swatch = element("span", null, "swatch");
      swatch.style.backgroundColor = cluster.color;
      var button = element("button", "cluster " + cluster.cluster, "cluster-link");
      button.type = "button";
      button.addEventListener("click", function () { highlightCluster(cluster.cluster); });
      item.appendChild(swatch);
      item.appendChild(button);
      item.appendChild(element("span", " " + count(cluster.accounts) + " accounts (" +
        count(cluster.shown) + " drawn, " + count(cluster.high_risk) + " high risk)"));
      legend.appendChild(item);
    });
  }

  function fillTop(data) {
    var nodes = data.nodes;
    var order = nodes.account.map(function (_, i) { return i; });
    order.sort(function (a, b) { return nodes.risk_score[b] - nodes.risk_score[a]; });
    var list = document.getElementById("top-accounts");
    order.slice(0, 15).forEach(function (index) {
      var item = element("li");
      var button = element("button", nodes.account[index], "account-link");
      button.type = "button";
      button.addEventListener("click", function () { select(index); });
      item.appendChild(button);
      item.appendChild(element("span", " " + nodes.risk_score[index].toFixed(3)));
      list.appendChild(item);
    });
  }

  /** The account named by the page's fragment (``#account=ID``, as a case page links it). */
  function focusedAccount() {
    var match = /^#account=(.*)$/.exec(window.location.hash);
    if (!match) return -1;
    try {
      return state.data.nodes.account.indexOf(decodeURIComponent(match[1]));
    } catch (error) {
      return -1;
    }
  }

  function start() {
    var started = performance.now();
    var fetched;
    fetch(body.dataset.jsonUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.json();
      })
      .then(function (data) {
        fetched = performance.now();
        state.data = data;
        state.adjacency = buildAdjacency(data);
        document.getElementById("coverage").textContent = coverageText(data);
        fillLegend(data);
        fillTop(data);
        return Plotly.newPlot(graph, traces(), plotLayout, plotConfig);
      })
      .then(function () {
        showPointCount();
        graph.on("plotly_hover", function (event) {
          var index = pointIndex(event);
          if (index >= 0) describe(index, index === state.selected ? "Selected account" : "Account");
        });
        graph.on("plotly_unhover", function () {
          if (state.selected >= 0) describe(state.selected, "Selected account");
        });
        graph.on("plotly_click", function (event) {
          var index = pointIndex(event);
          if (index >= 0) select(index);
        });
        document.getElementById("high-risk-only").addEventListener("change", function (event) {
          state.highRiskOnly = event.target.checked;
          redraw();
        });
        document.getElementById("clear-selection").addEventListener("click", clearSelection);
        var focused = focusedAccount();
        if (focused >= 0) select(focused);
        // Two frames later the WebGL canvas has been painted.
        requestAnimationFrame(function () {
          requestAnimationFrame(function () {
            var drawn = performance.now();
            window.viewerTimings = {
              fetchMs: fetched - started,
              drawMs: drawn - fetched,
              sincePageStartMs: drawn,
            };
            document.getElementById("timing").textContent = "Data " +
              Math.round(fetched - started) + " ms, drawing " + Math.round(drawn - fetched) +
              " ms (" + Math.round(drawn) + " ms after the page was requested).";
            body.dataset.ready = "true";
          });
        });
      })
      .catch(function (error) {
        document.getElementById("coverage").textContent =
          "Could not draw the accounts: " + error.message;
        body.dataset.ready = "error";
      });
  }

  window.fraudViewer = {
    state: state,
    pointCount: pointCount,
    select: select,
    clearSelection: clearSelection,
  };
  start();
})();
