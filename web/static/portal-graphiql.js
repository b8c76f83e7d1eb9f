/* Boots GraphiQL for the portal API; configuration comes from the page (web/graphiql.py). */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var httpUrl = new URL(config.graphqlPath, window.location.href).toString();
  var wsUrl = httpUrl.replace(/^http/, "ws");

  // A header still holding the placeholder is left out: the schema then loads without a
  // token, and data fields answer UNAUTHENTICATED instead of every request failing with 401.
  function withoutPlaceholder(headers) {
    var cleaned = {};
    Object.keys(headers || {}).forEach(function (name) {
      var value = headers[name];
      if (typeof value === "string" && value.indexOf(config.tokenPlaceholder) !== -1) {
        return;
      }
      cleaned[name] = value;
    });
    return cleaned;
  }

  // Subscriptions use graphql-transport-ws on the same path; the editor's headers become
  // the connection_init payload, which is where the API reads the token of a WebSocket.
  var baseFetcher = GraphiQL.createFetcher({ url: httpUrl, subscriptionUrl: wsUrl });

  function fetcher(params, opts) {
    var options = Object.assign({}, opts, { headers: withoutPlaceholder(opts && opts.headers) });
    return baseFetcher(params, options);
  }

  // ?q=<query>&variables=<json> opens that query first (shareable links; never a token).
  var search = new URLSearchParams(window.location.search);
  var tabs = config.tabs.slice();
  if (search.get("q")) {
    tabs.unshift({ query: search.get("q"), variables: search.get("variables") });
  }

  var plugins = [];
  if (window.GraphiQLPluginExplorer) {
    plugins.push(window.GraphiQLPluginExplorer.explorerPlugin());
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: tabs,
      defaultHeaders: config.defaultHeaders,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
      plugins: plugins,
    })
  );
})();
