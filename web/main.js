/**
 * Entry point of the classifier page: reads metadata.json and the optional variants.json, wires
 * the inputs (drawing, upload, samples) to preprocessing and the chosen backend and model variant,
 * and exposes window.classifier for scripts.
 *
 * Serve the built site over HTTP, e.g. `python -m http.server -d build/site`, and open it.
 * `?backend=ort|tfjs-graph|tfjs-layers` picks the backend loaded first, with its float32 model
 * unless that backend runs the default variant. `?variant=NAME` picks a variant from
 * variants.json, which also sets the backend. Without either, the page starts with the default
 * variant of variants.json, or with ONNX Runtime Web and metadata.json's model when the site has
 * no variants.json.
 */

import { BACKENDS, RuntimeLoadError, defaultModelUrl, loadBackend, preloadRuntime } from './runtimes.js';
import { IMAGE_SIZE, ImageInputError, decodeImageFile, preprocessRgba, rgbaToModelInput } from './preprocess.js';
import { Sketchpad } from './sketchpad.js';
import * as ui from './ui.js';
import { fetchVariants, findVariant, startVariant, variantForBackend } from './variants.js';

const METADATA_URL = 'metadata.json';
const DEFAULT_BACKEND = 'ort';
const INPUT_LENGTH = IMAGE_SIZE * IMAGE_SIZE;

const $ = (id) => document.getElementById(id);
const elements = {
  pad: $('pad'),
  brushSize: $('brush-size'),
  undo: $('undo'),
  clear: $('clear'),
  classifyDrawing: $('classify-drawing'),
  fileInput: $('file-input'),
  dropZone: $('drop-zone'),
  backendChoices: document.querySelectorAll('input[name="backend"]'),
  variantSelect: $('variant'),
};

const state = {
  metadata: null,
  variants: null, // the parsed variants.json, or null when the site has none
  backendName: DEFAULT_BACKEND,
  variant: null, // the variants.json entry that runs, or null for metadata.json's model
  backends: new Map(), // "backend model-url" -> Promise of a loaded backend
  lastInput: null, // {input: Float32Array, source, trueLabel}
  queue: Promise.resolve(),
  inputsBound: false,
};

const sketchpad = new Sketchpad(elements.pad, { onStrokeEnd: () => enqueueInput(classifyDrawing) });
// A stroke before metadata.json has loaded would have no labels or backend to go to.
sketchpad.enabled = false;

/** Runs page tasks one at a time with the controls disabled, and shows any error in the page. */
function enqueue(task) {
  state.queue = state.queue.then(async () => {
    ui.setBusy(true);
    sketchpad.enabled = false;
    try {
      ui.clearError();
      await task();
    } catch (error) {
      ui.clearResult('error');
      reportError(error);
    } finally {
      ui.setBusy(false);
      sketchpad.enabled = state.inputsBound;
    }
  });
  return state.queue;
}

/**
 * Enqueues a task that classifies a new input. When it fails, the upload preview and the
 * model-input view are emptied too, so that they cannot pass for the failed input's.
 */
function enqueueInput(task) {
  return enqueue(async () => {
    try {
      await task();
    } catch (error) {
      state.lastInput = null;
      ui.showUploadPreview(null);
      ui.clearModelInput();
      throw error;
    }
  });
}

function reportError(error) {
  const expected = error instanceof ImageInputError || error instanceof RuntimeLoadError;
  if (!expected) console.error(error);
  ui.showError(expected ? error.message : `Unexpected error: ${error.message}`);
  ui.setStatus('Failed, see the message below.');
}

/** Resolves to backend `name` running `variant`'s model file, or metadata.json's model for null. */
function getBackend(name, variant = null) {
  const modelUrl = variant?.path ?? defaultModelUrl(name, state.metadata);
  const key = `${name} ${modelUrl}`;
  if (!state.backends.has(key)) {
    const loading = loadBackend(name, state.metadata, modelUrl);
    // A failed load is not cached, so choosing the backend or variant again retries it.
    loading.catch(() => state.backends.delete(key));
    state.backends.set(key, loading);
  }
  return state.backends.get(key);
}

/** Names what is being loaded, e.g. "onnx-int8 in ONNX Runtime Web (wasm)". */
function describeChoice() {
  const label = BACKENDS[state.backendName].label;
  return state.variant ? `${state.variant.name} in ${label}` : label;
}

async function classify(input, source, trueLabel = null) {
  state.lastInput = { input, source, trueLabel };
  ui.showModelInput(input);
  const variant = state.variant;
  const backend = await getBackend(state.backendName, variant);
  const start = performance.now();
  const probabilities = await backend.predict(input, 1);
  const inferenceMs = performance.now() - start;
  ui.showResult({
    probabilities,
    labels: state.metadata.labels,
    backend,
    variant: variant?.name ?? null,
    inferenceMs,
    source,
    trueLabel,
  });
  if (!performance.getEntriesByName('first-prediction').length) performance.mark('first-prediction');
  ui.setStatus(`Classified the ${source} with ${variant ? `${variant.name} in ` : ''}${backend.label}.`);
}

async function classifyDrawing() {
  if (sketchpad.isBlank) {
    throw new ImageInputError('The canvas is blank: draw something first.');
  }
  const { data, width, height } = sketchpad.pixels();
  ui.showUploadPreview(null);
  await classify(preprocessRgba(data, width, height, { source: 'drawing' }), 'drawing');
}

async function classifyFile(file) {
  ui.setStatus(`Reading ${file.name || 'the image'}…`);
  const rgba = await decodeImageFile(file);
  ui.showUploadPreview(rgba);
  await classify(preprocessImage(rgba), 'upload');
}

// Error messages give sizes in the file's pixels, before decodeImageFile scaled it down.
function preprocessImage(rgba) {
  const size = { originalWidth: rgba.originalWidth, originalHeight: rgba.originalHeight };
  return preprocessRgba(rgba.data, rgba.width, rgba.height, size);
}

async function classifySample(sample) {
  ui.setStatus(`Classifying test image ${sample.index}…`);
  const response = await fetch(sample.file);
  if (!response.ok) throw new RuntimeLoadError(`The sample ${sample.file} is missing (HTTP ${response.status}).`);
  const rgba = await decodeImageFile(await response.blob());
  ui.showUploadPreview(rgba);
  // Samples are raw test-set images, already in the input contract, so they skip preprocessing.
  await classify(rgbaToModelInput(rgba.data, rgba.width, rgba.height), 'sample', sample.label);
}

/** Switches to backend `name` with `variant` (null for metadata.json's model) and re-runs the last input. */
async function switchModel(name, variant) {
  state.backendName = name;
  state.variant = variant;
  showChoice();
  ui.setStatus(`Loading ${describeChoice()}…`);
  await getBackend(name, variant);
  ui.setStatus(`${describeChoice()} is ready.`);
  // Re-run the last input, so two backends or variants can be compared on the same image.
  if (state.lastInput) await classify(state.lastInput.input, state.lastInput.source, state.lastInput.trueLabel);
}

// A backend chosen by itself runs the default variant if it is that backend's, else its float32 model.
function switchBackend(name) {
  return switchModel(name, variantForBackend(state.variants, name));
}

function switchVariant(variantName) {
  const variant = findVariant(state.variants, variantName);
  return switchModel(variant.backend, variant);
}

/** Sets the backend switch and the variant selector to the model that runs. */
function showChoice() {
  for (const choice of elements.backendChoices) choice.checked = choice.value === state.backendName;
  if (state.variants) ui.showVariant(state.variant?.name ?? null);
}

async function fetchJson(url, what) {
  const response = await fetch(url).catch((error) => {
    throw new RuntimeLoadError(`Failed to fetch the ${what} ${url} (${error.message}). Check that the site is still being served.`);
  });
  if (!response.ok) {
    throw new RuntimeLoadError(`The ${what} ${url} is missing (HTTP ${response.status}). Build the site with python -m exporter build.`);
  }
  return response.json();
}

function checkContract(metadata) {
  const problems = [];
  const shape = metadata.input?.shape ?? [];
  if (shape.length !== 3 || shape[1] !== IMAGE_SIZE || shape[2] !== IMAGE_SIZE) {
    problems.push(`input shape ${JSON.stringify(shape)} is not [null, ${IMAGE_SIZE}, ${IMAGE_SIZE}]`);
  }
  if (metadata.input?.polarity !== 'light-on-dark') problems.push(`input polarity "${metadata.input?.polarity}" is not "light-on-dark"`);
  if (!Array.isArray(metadata.labels) || metadata.labels.length !== metadata.output?.shape?.[1]) {
    problems.push('labels do not match the output shape');
  }
  if (problems.length) throw new RuntimeLoadError(`${METADATA_URL} does not match this page: ${problems.join('; ')}.`);
}

// An emptied pad withdraws the drawing's result, but not that of an upload or a sample.
function clearDrawingResult() {
  if (state.lastInput?.source !== 'drawing') return;
  state.lastInput = null;
  ui.clearResult();
}

function bindInputs() {
  elements.brushSize.addEventListener('input', () => {
    sketchpad.brushSize = Number(elements.brushSize.value);
  });
  sketchpad.brushSize = Number(elements.brushSize.value);
  elements.undo.addEventListener('click', () => {
    sketchpad.undo();
    if (!sketchpad.isBlank) enqueueInput(classifyDrawing);
    else clearDrawingResult();
  });
  elements.clear.addEventListener('click', () => {
    sketchpad.clear();
    clearDrawingResult();
  });
  elements.classifyDrawing.addEventListener('click', () => enqueueInput(classifyDrawing));

  elements.fileInput.addEventListener('change', () => {
    const file = elements.fileInput.files[0];
    elements.fileInput.value = '';
    if (file) enqueueInput(() => classifyFile(file));
  });
  elements.dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    elements.dropZone.classList.add('over');
  });
  elements.dropZone.addEventListener('dragleave', () => elements.dropZone.classList.remove('over'));
  elements.dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    elements.dropZone.classList.remove('over');
    const file = event.dataTransfer.files[0]; // several files: the first one
    if (file) enqueueInput(() => classifyFile(file));
    else enqueue(async () => {
      throw new ImageInputError('The dropped item is not a file. Drop a PNG, JPEG, WebP or GIF image.');
    });
  });
  document.addEventListener('paste', (event) => {
    const file = event.clipboardData.files[0]; // pasted text has no file and is left alone
    if (!file) return;
    event.preventDefault();
    enqueueInput(() => classifyFile(file));
  });
  for (const choice of elements.backendChoices) {
    choice.addEventListener('change', () => choice.checked && enqueue(() => switchBackend(choice.value)));
  }
  elements.variantSelect.addEventListener('change', () => enqueue(() => switchVariant(elements.variantSelect.value)));
}

/**
 * Scripting API, for tests and users' own scripts (resolves once the page is ready):
 *   classifier.metadata                         the parsed metadata.json
 *   classifier.variants                         the parsed variants.json, or null without one
 *   classifier.variant                          the name of the variant the page runs, or null
 *   classifier.predictBatch(backend, x, n[, variant])
 *                                               x: Float32Array(n*28*28) raw 0..255 inputs,
 *                                               resolves to Float32Array(n*10) probabilities.
 *                                               Without `variant` (a name from variants.json),
 *                                               runs metadata.json's float32 model, whatever the
 *                                               page shows. With it, `backend` may be null, and
 *                                               otherwise must be the variant's backend.
 *   classifier.preprocess(blob)                 decodes and preprocesses an image file,
 *                                               resolves to Float32Array(28*28)
 *   classifier.lastInput                        the 28×28 input of the last prediction
 */
function exposeApi(ready) {
  window.classifier = {
    ready,
    backends: Object.keys(BACKENDS),
    get metadata() {
      return state.metadata;
    },
    get variants() {
      return state.variants;
    },
    get variant() {
      return state.variant?.name ?? null;
    },
    get lastInput() {
      return state.lastInput ? Array.from(state.lastInput.input) : null;
    },
    async predictBatch(name, images, n, variantName = null) {
      if (images.length !== n * INPUT_LENGTH) {
        throw new RangeError(`predictBatch expects ${n} × ${INPUT_LENGTH} values, got ${images.length}.`);
      }
      const variant = variantName === null ? null : findVariant(state.variants, variantName);
      if (variant && name !== null && name !== variant.backend) {
        throw new RangeError(`The variant "${variantName}" runs on the ${variant.backend} backend, not on ${name}.`);
      }
      const backend = await getBackend(name ?? variant?.backend, variant);
      return backend.predict(Float32Array.from(images), n);
    },
    async preprocess(blob) {
      return preprocessImage(await decodeImageFile(blob));
    },
  };
}

async function main() {
  ui.setBusy(true);
  const query = new URLSearchParams(location.search);
  const requested = { backend: query.get('backend'), variant: query.get('variant') };
  if (requested.backend !== null && !(requested.backend in BACKENDS)) {
    throw new RuntimeLoadError(`Unknown backend "${requested.backend}" in the URL. Use one of: ${Object.keys(BACKENDS).join(', ')}.`);
  }
  if (requested.backend !== null) preloadRuntime(requested.backend);

  ui.setStatus('Loading metadata…');
  [state.metadata, state.variants] = await Promise.all([fetchJson(METADATA_URL, 'model metadata'), fetchVariants()]);
  checkContract(state.metadata);
  state.variant = startVariant(state.variants, requested);
  state.backendName = state.variant?.backend ?? requested.backend ?? DEFAULT_BACKEND;
  if (requested.backend === null) preloadRuntime(state.backendName);
  if (state.variants) ui.renderVariants(state.variants);
  showChoice();
  ui.renderBars(state.metadata.labels);
  ui.showModelInfo(state.metadata, state.variants);

  const { samples } = await fetchJson(state.metadata.samples, 'sample list');
  ui.renderGallery(samples, (sample) => enqueueInput(() => classifySample(sample)));
  bindInputs();
  state.inputsBound = true;

  ui.setStatus(`Loading ${describeChoice()}…`);
  await getBackend(state.backendName, state.variant);
  ui.setStatus('Ready: draw a garment, upload or paste a photo, or pick a sample.');
}

const ready = main().then(
  () => {
    document.body.dataset.state = 'ready';
  },
  (error) => {
    document.body.dataset.state = 'error';
    reportError(error);
  },
);
exposeApi(ready);
// Without metadata or samples the inputs have nothing to work with, so they stay disabled.
// A backend that failed to load leaves them enabled, so the user can choose another one.
ready.finally(() => {
  ui.setBusy(!state.inputsBound);
  sketchpad.enabled = state.inputsBound;
});
