// Validates an AsyncAPI document with the official parser (@asyncapi/parser: the AsyncAPI JSON
// schema plus its Spectral rules). Usage: node validate-asyncapi.mjs [file]  (stdin without one)
// Prints one JSON object: {"diagnostics": [{"severity", "code", "message", "path"}...]};
// exits 1 when any diagnostic is an error, 0 otherwise.
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const NAMES = {
  [DiagnosticSeverity.Error]: "error",
  [DiagnosticSeverity.Warning]: "warning",
  [DiagnosticSeverity.Information]: "information",
  [DiagnosticSeverity.Hint]: "hint",
};

const source = readFileSync(process.argv[2] ?? 0, "utf8");
const { diagnostics } = await new Parser().parse(source);
const found = diagnostics.map((d) => ({
  severity: NAMES[d.severity] ?? String(d.severity),
  code: String(d.code),
  message: d.message,
  path: d.path.join("/"),
}));
process.stdout.write(JSON.stringify({ diagnostics: found }, null, 2) + "\n");
process.exitCode = found.some((d) => d.severity === "error") ? 1 : 0;
