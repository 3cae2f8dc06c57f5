/**
 * Entry point of the classifier page: reads metadata.json, wires the inputs (drawing, upload,
 * samples) to preprocessing and the chosen backend, and exposes window.classifier for scripts.
 *
 * Serve the built site over HTTP, e.g. `python -m http.server -d build/site`, and open it.
 * `?backend=ort|tfjs-graph|tfjs-layers` picks the backend loaded first.
 */

import { BACKENDS, RuntimeLoadError, loadBackend, preloadRuntime } from './runtimes.js';
import { IMAGE_SIZE, ImageInputError, decodeImageFile, preprocessRgba, rgbaToModelInput } from './preprocess.js';
import { Sketchpad } from './sketchpad.js';
import * as ui from './ui.js';

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
};

const state = {
  metadata: null,
  backendName: DEFAULT_BACKEND,
  backends: new Map(), // name -> Promise of a loaded backend
  lastInput: null, // {input: Float32Array, source, trueLabel}
  queue: Promise.resolve(),
  inputsBound: false,
};

const sketchpad = new Sketchpad(elements.pad, { onStrokeEnd: () => enqueue(classifyDrawing) });

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
      sketchpad.enabled = true;
    }
  });
  return state.queue;
}

function reportError(error) {
  const expected = error instanceof ImageInputError || error instanceof RuntimeLoadError;
  if (!expected) console.error(error);
  ui.showError(expected ? error.message : `Unexpected error: ${error.message}`);
  ui.setStatus('Failed, see the message below.');
}

function getBackend(name) {
  if (!state.backends.has(name)) {
    const loading = loadBackend(name, state.metadata);
    // A failed load is not cached, so choosing the backend again retries it.
    loading.catch(() => state.backends.delete(name));
    state.backends.set(name, loading);
  }
  return state.backends.get(name);
}

async function classify(input, source, trueLabel = null) {
  state.lastInput = { input, source, trueLabel };
  ui.showModelInput(input);
  const backend = await getBackend(state.backendName);
  const start = performance.now();
  const probabilities = await backend.predict(input, 1);
  const inferenceMs = performance.now() - start;
  ui.showResult({ probabilities, labels: state.metadata.labels, backend, inferenceMs, source, trueLabel });
  if (!performance.getEntriesByName('first-prediction').length) performance.mark('first-prediction');
  ui.setStatus(`Classified the ${source} with ${backend.label}.`);
}

async function classifyDrawing() {
  if (sketchpad.isBlank) {
    throw new ImageInputError('The canvas is blank: draw something first.');
  }
  const { data, width, height } = sketchpad.pixels();
  ui.showUploadPreview(null);
  await classify(preprocessRgba(data, width, height), 'drawing');
}

async function classifyFile(file) {
  ui.setStatus(`Reading ${file.name || 'the image'}…`);
  const rgba = await decodeImageFile(file);
  ui.showUploadPreview(rgba);
  await classify(preprocessRgba(rgba.data, rgba.width, rgba.height), 'upload');
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

async function switchBackend(name) {
  state.backendName = name;
  ui.setStatus(`Loading ${BACKENDS[name].label}…`);
  await getBackend(name);
  ui.setStatus(`${BACKENDS[name].label} is ready.`);
  // Re-run the last input, so the two backends can be compared on the same image.
  if (state.lastInput) await classify(state.lastInput.input, state.lastInput.source, state.lastInput.trueLabel);
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
    if (!sketchpad.isBlank) enqueue(classifyDrawing);
    else clearDrawingResult();
  });
  elements.clear.addEventListener('click', () => {
    sketchpad.clear();
    clearDrawingResult();
  });
  elements.classifyDrawing.addEventListener('click', () => enqueue(classifyDrawing));

  elements.fileInput.addEventListener('change', () => {
    const file = elements.fileInput.files[0];
    elements.fileInput.value = '';
    if (file) enqueue(() => classifyFile(file));
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
    if (file) enqueue(() => classifyFile(file));
    else enqueue(async () => {
      throw new ImageInputError('The dropped item is not a file. Drop a PNG, JPEG, WebP or GIF image.');
    });
  });
  document.addEventListener('paste', (event) => {
    const file = event.clipboardData.files[0]; // pasted text has no file and is left alone
    if (!file) return;
    event.preventDefault();
    enqueue(() => classifyFile(file));
  });
  for (const choice of elements.backendChoices) {
    choice.addEventListener('change', () => choice.checked && enqueue(() => switchBackend(choice.value)));
  }
}

/**
 * Scripting API, for tests and users' own scripts (resolves once the page is ready):
 *   classifier.metadata                         the parsed metadata.json
 *   classifier.predictBatch(backend, x, n)      x: Float32Array(n*28*28) raw 0..255 inputs,
 *                                               resolves to Float32Array(n*10) probabilities
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
    get lastInput() {
      return state.lastInput ? Array.from(state.lastInput.input) : null;
    },
    async predictBatch(name, images, n) {
      if (images.length !== n * INPUT_LENGTH) {
        throw new RangeError(`predictBatch expects ${n} × ${INPUT_LENGTH} values, got ${images.length}.`);
      }
      const backend = await getBackend(name);
      return backend.predict(Float32Array.from(images), n);
    },
    async preprocess(blob) {
      const rgba = await decodeImageFile(blob);
      return preprocessRgba(rgba.data, rgba.width, rgba.height);
    },
  };
}

async function main() {
  ui.setBusy(true);
  const requested = new URLSearchParams(location.search).get('backend');
  if (requested !== null && !(requested in BACKENDS)) {
    throw new RuntimeLoadError(`Unknown backend "${requested}" in the URL. Use one of: ${Object.keys(BACKENDS).join(', ')}.`);
  }
  state.backendName = requested ?? DEFAULT_BACKEND;
  for (const choice of elements.backendChoices) choice.checked = choice.value === state.backendName;
  preloadRuntime(state.backendName);

  ui.setStatus('Loading metadata…');
  state.metadata = await fetchJson(METADATA_URL, 'model metadata');
  checkContract(state.metadata);
  ui.renderBars(state.metadata.labels);
  ui.showModelInfo(state.metadata);

  const { samples } = await fetchJson(state.metadata.samples, 'sample list');
  ui.renderGallery(samples, (sample) => enqueue(() => classifySample(sample)));
  bindInputs();
  state.inputsBound = true;

  ui.setStatus(`Loading ${BACKENDS[state.backendName].label}…`);
  await getBackend(state.backendName);
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
ready.finally(() => ui.setBusy(!state.inputsBound));
