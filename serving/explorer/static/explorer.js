// GraphiQL over this server's /graphql, from the package's own files. The page's
// settings (the example queries as tabs, whether a token is needed) come as JSON in
// #fleetgraph-config: the Content-Security-Policy allows no inline script.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("fleetgraph-config").textContent);
  const send = GraphiQL.createFetcher({ url: config.url });
  // With API tokens on the server, each tab's headers hold a placeholder where the token
  // goes (Authorization: Bearer <token>). A token typed in one tab serves the tabs that
  // still hold the placeholder, for as long as the page is open.
  let typed = null;
  const fetcher = (params, options) => {
    const headers = Object.assign({}, options && options.headers);
    const name = Object.keys(headers).find((key) => key.toLowerCase() === "authorization");
    const given = name ? String(headers[name]) : "";
    if (given && given !== config.tokenPlaceholder) {
      typed = given;
    } else if (typed) {
      if (name) delete headers[name];
      headers.Authorization = typed;
    }
    return send(params, Object.assign({}, options, { headers: headers }));
  };
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultTabs: config.tabs,
    // GraphiQL 3.8 fills the first tab's variables and headers editors from these, not
    // from defaultTabs[0]
    variables: config.tabs[0].variables,
    headers: config.tabs[0].headers,
    defaultEditorToolsVisibility: config.tokenRequired ? "headers" : "variables",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    inputValueDeprecation: true,
  }));
})();
