/**
 * Inference backends behind one interface.
 *
 *   const backend = await loadBackend('ort', metadata);                    // metadata.json's model
 *   const int8 = await loadBackend('ort', metadata, 'models/variants/model.int8.onnx');
 *   const probabilities = await backend.predict(images, n);
 *
 * `images` is a Float32Array of n × 28 × 28 raw intensities (0..255, light garment on dark,
 * row-major), fed under the input name from metadata.json. The result is a Float32Array of
 * n × 10 softmax probabilities in the order of metadata.labels. The /255 scaling is inside
 * the model, so no backend rescales.
 *
 * Each runtime is imported on first use, so the page downloads only the one it runs.
 */

// Runtime files copied from web/node_modules by the site build (see vendor.json).
// The bundle variant has the Emscripten glue built in, so the wasm binary is its only other file.
const ORT_MODULE = './vendor/ort/ort.wasm.bundle.min.mjs';
const ORT_WASM = 'vendor/ort/ort-wasm-simd-threaded.wasm';
const TFJS_MODULE = './vendor/tfjs/tf.fesm.min.js';
// TF.js's CPU backend computes in float32 JavaScript, which keeps it within 1e-5 of Keras.
const TFJS_BACKEND = 'cpu';
const REBUILD_HINT = 'Rebuild the site: npm ci --prefix web, then python -m exporter build.';

// `modelKey` is the key of the backend's float32 model in metadata.json's "models".
export const BACKENDS = {
  ort: { label: 'ONNX Runtime Web (wasm)', module: ORT_MODULE, modelKey: 'onnx', load: loadOrt },
  'tfjs-graph': {
    label: 'TensorFlow.js (graph model)',
    module: TFJS_MODULE,
    modelKey: 'tfjs_graph',
    load: (metadata, modelUrl) => loadTfjs(metadata, modelUrl, 'graph'),
  },
  'tfjs-layers': {
    label: 'TensorFlow.js (layers model)',
    module: TFJS_MODULE,
    modelKey: 'tfjs_layers',
    load: (metadata, modelUrl) => loadTfjs(metadata, modelUrl, 'layers'),
  },
};

const runtimeModules = new Map(); // module path -> Promise of the imported module

/** A runtime or model file that could not be loaded, with a message meant for the page. */
export class RuntimeLoadError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RuntimeLoadError';
  }
}

/**
 * Loads the runtime of one backend with the model at `modelUrl` (by default the float32 model
 * that metadata.json names), and resolves to {name, label, modelUrl, details, predict}.
 */
export async function loadBackend(name, metadata, modelUrl = defaultModelUrl(name, metadata)) {
  const backend = backendNamed(name);
  const loaded = await backend.load(metadata, modelUrl);
  // One run on a blank image, so one-time setup is not counted as the first inference time.
  const [height, width] = metadata.input.shape.slice(1);
  await loaded.predict(new Float32Array(height * width), 1);
  return { name, label: backend.label, modelUrl, ...loaded };
}

/** Returns the path of `name`'s float32 model from metadata.json. */
export function defaultModelUrl(name, metadata) {
  return metadata.models[backendNamed(name).modelKey];
}

function backendNamed(name) {
  if (!(name in BACKENDS)) {
    throw new RuntimeLoadError(`Unknown backend "${name}". Choose one of: ${Object.keys(BACKENDS).join(', ')}.`);
  }
  return BACKENDS[name];
}

/** Starts downloading a backend's runtime before metadata.json is in, to save a round trip. */
export function preloadRuntime(name) {
  const backend = BACKENDS[name];
  if (backend) importRuntime(backend.module).catch(() => {}); // loadBackend reports the failure
}

function importRuntime(path) {
  if (!runtimeModules.has(path)) {
    const loading = import(path).catch((error) => {
      runtimeModules.delete(path); // so that choosing the backend again retries
      const what = path === ORT_MODULE ? 'ONNX Runtime Web' : 'TensorFlow.js';
      throw new RuntimeLoadError(`Failed to load ${what} from ${path} (${error.message}). ${REBUILD_HINT}`);
    });
    runtimeModules.set(path, loading);
  }
  return runtimeModules.get(path);
}

async function fetchBytes(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new RuntimeLoadError(`Failed to fetch the ${what} ${url} (${error.message}). Check that the site is still being served.`);
  }
  if (!response.ok) {
    throw new RuntimeLoadError(`The ${what} ${url} is missing (HTTP ${response.status}). ${REBUILD_HINT}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function loadOrt(metadata, modelUrl) {
  const [ort, modelBytes] = await Promise.all([importRuntime(ORT_MODULE), fetchBytes(modelUrl, 'ONNX model')]);
  // Threads need SharedArrayBuffer, which browsers grant only to cross-origin isolated pages.
  // A plain static host sends no isolation headers, so run single-threaded there.
  if (!globalThis.crossOriginIsolated) ort.env.wasm.numThreads = 1;
  // Resolved against the page, so the site works from any sub-path.
  ort.env.wasm.wasmPaths = { wasm: new URL(ORT_WASM, document.baseURI).href };

  let session;
  try {
    session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  } catch (error) {
    throw new RuntimeLoadError(
      `ONNX Runtime Web failed to start with ${modelUrl} (${error.message}). ` +
        `It needs ${ORT_WASM}. ${REBUILD_HINT}`,
    );
  }

  const [height, width] = metadata.input.shape.slice(1);
  const threads = ort.env.wasm.numThreads || 'default';
  return {
    details: `onnxruntime-web ${ort.env.versions.web}, wasm, ${threads} thread${threads === 1 ? '' : 's'}`,
    async predict(images, n) {
      const feeds = { [metadata.input.name]: new ort.Tensor('float32', images, [n, height, width]) };
      const results = await session.run(feeds);
      const output = results[metadata.output.name];
      return Float32Array.from(output.data);
    },
  };
}

async function loadTfjs(metadata, modelUrl, kind) {
  const tf = await importRuntime(TFJS_MODULE);
  if (tf.getBackend() !== TFJS_BACKEND && !(await tf.setBackend(TFJS_BACKEND))) {
    throw new RuntimeLoadError(`TensorFlow.js failed to start its "${TFJS_BACKEND}" backend.`);
  }
  await tf.ready();

  // TF.js 4.22 reads the body of a failed weights request, such as a 404 page, as weights, so
  // check every response and name the missing file.
  const fetchFunc = async (url, init) => {
    const response = await fetch(url, init);
    if (!response.ok) {
      const file = url === modelUrl ? `The TF.js ${kind} model ${url}` : `The weights file ${url} of the TF.js ${kind} model ${modelUrl}`;
      throw new RuntimeLoadError(`${file} is missing (HTTP ${response.status}). ${REBUILD_HINT}`);
    }
    return response;
  };
  let model;
  try {
    model = kind === 'graph' ? await tf.loadGraphModel(modelUrl, { fetchFunc }) : await tf.loadLayersModel(modelUrl, { fetchFunc });
  } catch (error) {
    if (error instanceof RuntimeLoadError) throw error;
    throw new RuntimeLoadError(`TensorFlow.js failed to load the ${kind} model ${modelUrl} (${error.message}). ${REBUILD_HINT}`);
  }

  const [height, width] = metadata.input.shape.slice(1);
  return {
    details: `tfjs ${tf.version_core}, ${tf.getBackend()} backend, ${kind} model`,
    async predict(images, n) {
      const input = tf.tensor3d(images, [n, height, width], 'float32');
      try {
        // A graph model's input name comes from its signature (e.g. "image:0"), not from
        // metadata.json, so pass the tensor positionally to its single input.
        const output = model.predict(input);
        try {
          return await output.data();
        } finally {
          output.dispose();
        }
      } finally {
        input.dispose();
      }
    },
  };
}
