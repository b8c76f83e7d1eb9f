// Composes subgraph schemas into a supergraph with Apollo's composition library (what Rover
// and GraphOS run), and prints what happened as JSON: the composition errors, or the
// supergraph SDL.
//
//   node clients/compose.mjs <name>=<subgraph.graphql> [<name>=<subgraph.graphql> ...]
//
// Driven by tests/integration/test_composition.py.
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const services = process.argv.slice(2).map((argument) => {
  const [name, file] = argument.split("=", 2);
  return { name, url: `http://${name}.invalid/graphql`, typeDefs: parse(readFileSync(file, "utf8")) };
});
const result = composeServices(services);
console.log(
  JSON.stringify({
    errors: (result.errors ?? []).map((error) => error.message),
    supergraphSdl: result.errors ? null : result.supergraphSdl,
  }),
);
