// GraphiQL over this server's /graphql, from the package's own files. The page's
// settings (the example queries as tabs, whether a token is needed) come as JSON in
// #fleetgraph-config: the Content-Security-Policy allows no inline script.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("fleetgraph-config").textContent);
  const fetcher = GraphiQL.createFetcher({ url: config.url });
  const plugins = [GraphiQLPluginExplorer.explorerPlugin()];
  // With API tokens on the server, each tab's headers say where the token goes:
  // replace the placeholder with your token (Authorization: Bearer <token>).
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    plugins: plugins,
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
