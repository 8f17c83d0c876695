// Ask aimesh a question over gRPC from Node.js, streaming the answer.
//
//   npm ci
//   AIMESH_API_KEY=... node ask.js "What is aimesh?"
//
// Environment: AIMESH_API_KEY (required), AIMESH_TARGET (default 127.0.0.1:50051),
// AIMESH_MAX_TOKENS (default 0: the edge's default). The stubs are built at run
// time from ../../protos, the same contract the Python services use.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = path.resolve(__dirname, "..", "..", "protos");

function loadEdge() {
  const definition = protoLoader.loadSync("aimesh/edge/v1/edge.proto", {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).aimesh.edge.v1;
}

function main() {
  const question = process.argv.slice(2).join(" ").trim();
  const apiKey = process.env.AIMESH_API_KEY;
  if (!question || !apiKey) {
    console.error('usage: AIMESH_API_KEY=... node ask.js "your question"');
    process.exit(2);
  }
  const target = process.env.AIMESH_TARGET || "127.0.0.1:50051";
  const edge = loadEdge();
  const client = new edge.EdgeService(target, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.add("authorization", `Bearer ${apiKey}`);

  const request = { question, max_tokens: Number(process.env.AIMESH_MAX_TOKENS || 0) };
  const call = client.AskStream(request, metadata, { deadline: Date.now() + 120_000 });
  let last = null;
  call.on("metadata", (md) => {
    const id = md.get("x-request-id")[0];
    if (id) console.error(`request id: ${id}`);
  });
  call.on("data", (message) => {
    if (message.text) process.stdout.write(message.text);
    last = message;
  });
  call.on("error", (error) => {
    console.error(`\nerror: ${grpc.status[error.code]}: ${error.details}`);
    process.exit(1);
  });
  call.on("end", () => {
    process.stdout.write("\n");
    if (last) {
      if (last.escalate) console.log("(nothing relevant found: escalate to a person)");
      for (const c of last.citations) {
        console.log(`[${c.index}] ${c.title || c.document_id} (${c.document_id}, ${c.start}-${c.end})`);
      }
      const usage = last.usage || { input_tokens: 0, output_tokens: 0 };
      console.log(
        `model ${last.model}; tokens ${usage.input_tokens} in, ${usage.output_tokens} out; ` +
          `cost ${last.cost_micros} micro-USD${last.cached ? " (cached)" : ""}`,
      );
    }
    client.close();
  });
}

main();
