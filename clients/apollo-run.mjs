// Runs one query with Apollo Client and its persisted-queries link against a live API, the
// way an app does, and prints what happened as JSON: the result and, for each HTTP request
// the link made, whether it carried the query text or only the hash.
//
//   node clients/apollo-run.mjs <graphql url> <bearer token> <operation.graphql> '<variables json>' [runs]
//
// Each run uses a new client (an empty cache), so the second run shows whether the server
// remembered the hash the first one registered. Driven by tests/integration/test_clients.py.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, token, operationFile, variablesJson = "{}", runsArg = "2"] = process.argv.slice(2);
const document = gql(readFileSync(operationFile, "utf8"));
const requests = [];

async function recordingFetch(input, init) {
  const body = init?.body ? JSON.parse(init.body) : {};
  const response = await fetch(input, init);
  const clone = response.clone();
  const answer = await clone.json().catch(() => null);
  requests.push({
    method: init?.method ?? "GET",
    hasQuery: typeof body.query === "string",
    sha256Hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    codes: (answer?.errors ?? []).map((e) => e.extensions?.code),
  });
  return response;
}

const results = [];
for (let run = 0; run < Number(runsArg); run++) {
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
  });
  const http = new HttpLink({
    uri: url,
    headers: { authorization: `Bearer ${token}` },
    fetch: recordingFetch,
  });
  const client = new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
  try {
    const result = await client.query({
      query: document,
      variables: JSON.parse(variablesJson),
      fetchPolicy: "network-only",
    });
    results.push({ data: result.data ?? null, error: result.error ? String(result.error) : null });
  } catch (error) {
    results.push({ data: null, error: String(error) });
  }
}
console.log(JSON.stringify({ results, requests }));
