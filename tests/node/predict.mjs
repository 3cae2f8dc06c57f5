// Load a TF.js layers or graph model from disk with the pure-JS CPU backend and print its
// predictions as JSON.
// Usage: node predict.mjs layers|graph MODEL_JSON INPUT_JSON
// INPUT_JSON contains {"shape": [n, 28, 28], "data": [n*28*28 numbers]}; stdout is
// {"probabilities": [[10 numbers] x n]}.
import { readFile } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";

const [kind, modelJsonPath, inputPath] = process.argv.slice(2);

// tf.io's file:// handler needs tfjs-node; this reads model.json and its shards with fs.
function fileHandler(modelJson) {
  return {
    async load() {
      const model = JSON.parse(await readFile(modelJson, "utf8"));
      const folder = path.dirname(modelJson);
      const specs = [];
      const buffers = [];
      for (const group of model.weightsManifest) {
        specs.push(...group.weights);
        for (const shard of group.paths) {
          buffers.push(await readFile(path.join(folder, shard)));
        }
      }
      const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
      return {
        modelTopology: model.modelTopology,
        format: model.format,
        generatedBy: model.generatedBy,
        convertedBy: model.convertedBy,
        signature: model.signature,
        userDefinedMetadata: model.userDefinedMetadata,
        weightSpecs: specs,
        weightData,
      };
    },
  };
}

async function main() {
  await tf.setBackend("cpu");
  const input = JSON.parse(await readFile(inputPath, "utf8"));
  const model = kind === "layers"
    ? await tf.loadLayersModel(fileHandler(modelJsonPath))
    : await tf.loadGraphModel(fileHandler(modelJsonPath));
  const x = tf.tensor(input.data, input.shape, "float32");
  const y = model.predict(x);
  const output = Array.isArray(y) ? y[0] : y;
  process.stdout.write(JSON.stringify({ probabilities: await output.array() }));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
