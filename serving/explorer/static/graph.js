// The graph view: a blast radius, a lineage or a node's neighbourhood, drawn with
// cytoscape (vendored) from this server's GraphQL API. Plain script, no build step.
// Settings come as JSON in #fleetgraph-config (the page's CSP allows no inline script).
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("fleetgraph-config").textContent);
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#4e79a7", "#59a14f", "#9c755f", "#b07aa1", "#76b7b2", "#edc948",
    "#bab0ac", "#86bcb6", "#8cd17d", "#a0cbe8", "#d4a6c8", "#79706e", "#f1ce63",
    "#499894", "#d7b5a6", "#b6992d", "#9d7660", "#fabfd2", "#e6e6e6", "#6b6ecf"];
  const IMPACT = { ROOT: "#111111", DOWN: "#d62728", DEGRADED: "#ff7f0e" };
  const NEIGHBOURS_SHOWN = 150; // new nodes drawn per expansion, at most
  const ALIASES_PER_QUERY = 24; // the server allows 32 aliases per document
  const typeColour = {};
  config.nodeTypes.forEach((t, i) => { typeColour[t] = PALETTE[i % PALETTE.length]; });
  const colourOf = (type) => typeColour[type] || "#cccccc";
  const typeOf = (id) => id.split(":")[0];

  const cy = cytoscape({
    container: $("cy"),
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        "background-color": "data(colour)", "label": "data(label)", "font-size": 9,
        "text-valign": "bottom", "text-margin-y": 3, "width": 18, "height": 18,
        "border-width": 0, "color": "#333" } },
      { selector: "node[impact]", style: { "border-width": 4, "border-color": "data(impactColour)" } },
      { selector: "node[?root]", style: { "width": 28, "height": 28, "font-weight": "bold" } },
      { selector: "node:selected", style: { "overlay-opacity": 0.2 } },
      { selector: "edge", style: {
        "width": 1.2, "line-color": "#9a9a9a", "target-arrow-color": "#9a9a9a",
        "target-arrow-shape": "triangle", "arrow-scale": 0.7, "curve-style": "bezier",
        "label": "data(label)", "font-size": 7, "color": "#777", "text-rotation": "autorotate" } },
    ],
  });
  window.fleetgraphView = { cy: cy }; // for tests and the browser's console

  let current = { view: "", id: "" };

  async function graphql(query, variables) {
    const headers = { "content-type": "application/json", "accept": "application/json" };
    const token = $("token").value.trim();
    if (token) headers.authorization = "Bearer " + token;
    const response = await fetch(config.url, {
      method: "POST", headers: headers, body: JSON.stringify({ query: query, variables: variables }),
    });
    const body = await response.json().catch(() => ({ errors: [{ message: response.statusText }] }));
    if (body.errors && body.errors.length) {
      throw new Error(body.errors.map((e) => e.message).join("; "));
    }
    return body.data;
  }

  function addNode(id, data) {
    const existing = cy.getElementById(id);
    const extra = Object.assign({}, data || {});
    if (extra.impact) extra.impactColour = IMPACT[extra.impact] || "#000";
    if (existing.length) { existing.data(extra); return false; }
    const type = typeOf(id);
    cy.add({ group: "nodes", data: Object.assign({ id: id, label: id, type: type, colour: colourOf(type) }, extra) });
    return true;
  }

  function addEdge(from, to, type) {
    const id = from + "|" + type + "|" + to;
    if (!cy.getElementById(id).length) {
      cy.add({ group: "edges", data: { id: id, source: from, target: to, label: type } });
    }
  }

  async function blast(id) {
    const data = await graphql(`query Blast($id: ID!) {
  blastRadius(componentId: $id) { truncated items { id type impact dependency path } }
}`, { id: id });
    const radius = data.blastRadius;
    addNode(id, { root: true, impact: "ROOT", level: 0 });
    for (const item of radius.items) {
      addNode(item.id, { impact: item.impact, dependency: item.dependency,
        level: item.path ? item.path.length - 1 : 1 });
    }
    for (const item of radius.items) {
      const path = item.path || [];
      for (let i = 1; i < path.length; i++) {
        addNode(path[i - 1]); addNode(path[i]);
        addEdge(path[i - 1], path[i], i === path.length - 1 ? (item.dependency || "") : "");
      }
    }
    return `blast radius of ${id}: ${radius.items.length} impacted` +
      (radius.truncated ? " (truncated)" : "");
  }

  async function lineage(id, direction, depth) {
    const data = await graphql(`query Lineage($id: ID!, $direction: LineageDirection!, $depth: Int!) {
  lineage(id: $id, direction: $direction, depth: $depth) { truncated nodes { id distance } edges { type fromId toId } }
}`, { id: id, direction: direction, depth: depth });
    const walk = data.lineage;
    for (const node of walk.nodes) {
      addNode(node.id, { distance: node.distance, level: node.distance, root: node.id === id });
    }
    for (const edge of walk.edges) { addNode(edge.fromId); addNode(edge.toId); addEdge(edge.fromId, edge.toId, edge.type); }
    return `lineage ${direction} of ${id}, depth ${depth}: ${walk.nodes.length} nodes, ` +
      `${walk.edges.length} edges` + (walk.truncated ? " (truncated)" : "");
  }

  // Every edge type the node's type can have, both ways, a few aliases per query.
  async function neighbours(id) {
    const type = typeOf(id);
    const wanted = [];
    for (const [name, ends] of Object.entries(config.edgeTypes)) {
      if (ends.from.includes(type)) wanted.push([name, "OUT"]);
      if (ends.to.includes(type)) wanted.push([name, "IN"]);
    }
    let found = false; let added = 0; let skipped = 0;
    const fresh = [];
    for (let start = 0; start < wanted.length || start === 0; start += ALIASES_PER_QUERY) {
      const chunk = wanted.slice(start, start + ALIASES_PER_QUERY);
      const fields = chunk.map(([name, dir], i) =>
        `e${i}: neighbours(edgeType: ${JSON.stringify(name)}, direction: ${dir}) { type fromId toId }`);
      const data = await graphql(`query Neighbours($id: ID!) { node(id: $id) { id ${fields.join(" ")} } }`, { id: id });
      if (!data.node) throw new Error(`no node ${id}`);
      found = true;
      addNode(id, { root: current.view === "neighbours" && current.id === id });
      for (let i = 0; i < chunk.length; i++) {
        for (const edge of data.node["e" + i]) {
          const other = edge.fromId === id ? edge.toId : edge.fromId;
          if (!cy.getElementById(other).length) {
            if (added >= NEIGHBOURS_SHOWN) { skipped++; continue; }
            added++;
          }
          if (addNode(other, { level: 1 })) fresh.push(other);
          addEdge(edge.fromId, edge.toId, edge.type);
        }
      }
      if (!chunk.length) break;
    }
    if (!found) throw new Error(`no node ${id}`);
    around(id, fresh);
    return `neighbourhood of ${id}: ${added} nodes added` +
      (skipped ? `, ${skipped} more not drawn` : "");
  }

  // A drawing: rings around the root by distance (hops on the blast path, lineage
  // distance). An expansion: the new neighbours on a ring around the clicked node.
  function layout(root) {
    if (!root) { cy.fit(undefined, 30); return; }
    cy.layout({ name: "concentric", animate: false, minNodeSpacing: 12,
      concentric: (node) => 100 - (node.data("level") || 0), levelWidth: () => 1 }).run();
    cy.fit(undefined, 30);
  }

  function around(id, fresh) {
    if (!fresh.length || current.id === id && cy.nodes().length === fresh.length + 1) return;
    const centre = cy.getElementById(id).position();
    const radius = 40 + fresh.length * 6;
    fresh.forEach((other, i) => {
      const angle = (2 * Math.PI * i) / fresh.length;
      cy.getElementById(other).position({ x: centre.x + radius * Math.cos(angle),
        y: centre.y + radius * Math.sin(angle) });
    });
  }

  function setStatus(text, error) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(error));
    status.dataset.nodes = String(cy.nodes().length);
    status.dataset.edges = String(cy.edges().length);
    $("export-svg").disabled = $("export-png").disabled = cy.nodes().length === 0;
    legend();
  }

  async function run(task, root) {
    setStatus("loading…");
    $("status").dataset.state = "loading";
    try {
      const summary = await task();
      layout(root);
      setStatus(`${summary}; ${cy.nodes().length} nodes, ${cy.edges().length} edges drawn`);
      $("status").dataset.state = "done";
    } catch (error) {
      setStatus(String(error.message || error), true);
      $("status").dataset.state = "error";
    }
  }

  function draw() {
    const view = $("view").value;
    const id = $("node-id").value.trim();
    if (!id) return;
    const direction = $("direction").value;
    const depth = Math.max(1, Math.min(10, parseInt($("depth").value, 10) || 3));
    current = { view: view, id: id };
    const params = new URLSearchParams({ view: view, id: id });
    if (view === "lineage") { params.set("direction", direction); params.set("depth", String(depth)); }
    history.replaceState(null, "", "?" + params.toString());
    cy.elements().remove();
    $("details").textContent = "";
    const task = view === "blast" ? () => blast(id)
      : view === "lineage" ? () => lineage(id, direction, depth) : () => neighbours(id);
    return run(task, id);
  }

  function legend() {
    const list = $("legend");
    list.textContent = "";
    const types = [...new Set(cy.nodes().map((n) => n.data("type")))].sort();
    const rows = types.map((t) => [t, colourOf(t), null]);
    for (const [impact, colour] of Object.entries(IMPACT)) {
      if (cy.nodes(`[impact = "${impact}"]`).length) {
        rows.push([impact === "ROOT" ? "failed component (ring)" : impact.toLowerCase() + " (ring)", "#fff", colour]);
      }
    }
    for (const [name, fill, ring] of rows) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = fill;
      if (ring) swatch.style.borderColor = ring;
      item.append(swatch, name);
      list.append(item);
    }
  }

  function details(node) {
    const box = $("details");
    box.textContent = "";
    const list = document.createElement("dl");
    for (const key of ["id", "type", "impact", "dependency", "distance"]) {
      const value = node.data(key);
      if (value === undefined || value === null) continue;
      const dt = document.createElement("dt"); dt.textContent = key;
      const dd = document.createElement("dd"); dd.textContent = String(value);
      list.append(dt, dd);
    }
    box.append(list);
  }

  cy.on("tap", "node", (event) => {
    const node = event.target;
    details(node);
    const id = node.id();
    run(() => neighbours(id), null);
  });

  // SVG written from the drawn positions (cytoscape-svg, the usual extension, is GPL).
  function svg() {
    const box = cy.elements().boundingBox({ includeLabels: true });
    const pad = 20;
    const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
    const out = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="${box.x1 - pad} ${box.y1 - pad} ${box.w + 2 * pad} ${box.h + 2 * pad}" width="${Math.round(box.w + 2 * pad)}" height="${Math.round(box.h + 2 * pad)}" font-family="sans-serif">`,
      `<rect x="${box.x1 - pad}" y="${box.y1 - pad}" width="${box.w + 2 * pad}" height="${box.h + 2 * pad}" fill="#ffffff"/>`,
      `<g class="edges" stroke="#9a9a9a" stroke-width="1.2">`];
    cy.edges().forEach((e) => {
      const s = e.source().position(); const t = e.target().position();
      out.push(`<line x1="${s.x}" y1="${s.y}" x2="${t.x}" y2="${t.y}"><title>${esc(e.data("label"))}</title></line>`);
    });
    out.push(`</g><g class="nodes" font-size="9" fill="#333" text-anchor="middle">`);
    cy.nodes().forEach((n) => {
      const p = n.position(); const r = n.data("root") ? 14 : 9;
      const ring = n.data("impactColour");
      out.push(`<circle cx="${p.x}" cy="${p.y}" r="${r}" fill="${n.data("colour")}"` +
        (ring ? ` stroke="${ring}" stroke-width="4"` : "") + `><title>${esc(n.id())}</title></circle>`);
      out.push(`<text x="${p.x}" y="${p.y + r + 10}">${esc(n.data("label"))}</text>`);
    });
    out.push("</g></svg>");
    return new Blob([out.join("\n")], { type: "image/svg+xml" });
  }

  function download(blob, extension) {
    const name = `fleetgraph-${current.view || "graph"}-${(current.id || "").replace(/[^A-Za-z0-9_.-]+/g, "_")}.${extension}`;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  $("export-svg").addEventListener("click", () => download(svg(), "svg"));
  $("export-png").addEventListener("click", () =>
    download(cy.png({ output: "blob", bg: "#ffffff", full: true, scale: 2 }), "png"));
  $("fit").addEventListener("click", () => cy.fit(undefined, 30));
  $("query").addEventListener("submit", (event) => { event.preventDefault(); draw(); });
  $("view").addEventListener("change", showLineageFields);
  function showLineageFields() {
    for (const el of document.querySelectorAll(".lineage")) {
      el.classList.toggle("hidden", $("view").value !== "lineage");
    }
  }

  if (config.tokenRequired) {
    $("token-label").hidden = false;
    $("token").value = sessionStorage.getItem("fleetgraph-token") || "";
    $("token").addEventListener("change", () => sessionStorage.setItem("fleetgraph-token", $("token").value.trim()));
  }
  if (!config.ide) $("graphiql-link").parentElement.hidden = true;
  const params = new URLSearchParams(location.search);
  if (params.get("view")) $("view").value = params.get("view");
  if (params.get("direction")) $("direction").value = params.get("direction");
  if (params.get("depth")) $("depth").value = params.get("depth");
  showLineageFields();
  if (params.get("id")) {
    $("node-id").value = params.get("id");
    if (!config.tokenRequired || $("token").value) draw();
  }
})();
