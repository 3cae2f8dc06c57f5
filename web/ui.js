/**
 * Page rendering: status line, busy state, error messages, the model-input view, probability
 * bars, the sample gallery, the variant selector, and the result's data attributes.
 *
 * Every text from a file, a label or an error goes in through textContent, never as HTML.
 */

import { IMAGE_SIZE } from './preprocess.js';

// Below this top probability the page warns that the input may not be clothing.
export const LOW_CONFIDENCE = 0.5;
const KIB = 1024; // sizes in the variant selector are KiB, as in the verification report

const $ = (id) => document.getElementById(id);

// DOM elements, looked up once.
const elements = {
  status: $('status'),
  message: $('message'),
  controls: () => document.querySelectorAll('[data-busy-disable]'),
  modelInput: $('model-input'),
  uploadPreview: $('upload-preview'),
  result: $('result'),
  prediction: $('prediction'),
  truth: $('truth'),
  runInfo: $('run-info'),
  lowConfidence: $('low-confidence'),
  bars: $('bars'),
  gallery: $('gallery'),
  modelInfo: $('model-info'),
  reportLink: $('report-link'),
  variantChoice: $('variant-choice'),
  variantSelect: $('variant'),
};

export function setStatus(text) {
  elements.status.textContent = text;
}

/** Disables every control marked data-busy-disable while work runs, and sets aria-busy. */
export function setBusy(busy) {
  document.body.dataset.busy = String(busy);
  elements.result.setAttribute('aria-busy', String(busy));
  for (const control of elements.controls()) control.disabled = busy;
}

export function showError(text) {
  elements.message.textContent = text;
  elements.message.hidden = false;
}

export function clearError() {
  elements.message.textContent = '';
  elements.message.hidden = true;
}

export function showModelInfo(metadata, variants) {
  const accuracy = metadata.test_accuracy;
  const parts = [`Labels: ${metadata.labels.length}`];
  if (typeof accuracy === 'number') parts.push(`test accuracy ${(accuracy * 100).toFixed(2)}%`);
  elements.modelInfo.textContent = parts.join(', ');
  // Only `python -m exporter verify` writes report.html, and it marks that in variants.json.
  elements.reportLink.hidden = variants?.report !== 'report.html';
}

/** Creates one probability bar per label; showResult fills them. */
export function renderBars(labels) {
  elements.bars.replaceChildren();
  for (const [index, label] of labels.entries()) {
    const row = document.createElement('li');
    row.dataset.index = String(index);
    const name = document.createElement('span');
    name.className = 'bar-label';
    name.textContent = label;
    const meter = document.createElement('meter');
    meter.min = 0;
    meter.max = 1;
    meter.value = 0;
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = '–';
    row.append(name, meter, value);
    elements.bars.append(row);
  }
}

/** Fills the gallery with sample thumbnails; onPick(sample) runs when one is chosen. */
export function renderGallery(samples, onPick) {
  elements.gallery.replaceChildren();
  for (const sample of samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.dataset.busyDisable = '';
    button.dataset.index = String(sample.index);
    const image = document.createElement('img');
    image.src = sample.file;
    image.alt = `Test image ${sample.index}`;
    image.width = 56;
    image.height = 56;
    const caption = document.createElement('span');
    caption.textContent = sample.label_name;
    button.append(image, caption);
    button.addEventListener('click', () => onPick(sample));
    elements.gallery.append(button);
  }
}

/**
 * Fills the variant selector from the variants.json document `list` and shows it. Each option
 * names a variant with its gzip size and test accuracy, and marks the default.
 */
export function renderVariants(list) {
  elements.variantSelect.replaceChildren(...list.variants.map((variant) => variantOption(variant, variant.name === list.default)));
  elements.variantChoice.hidden = false;
}

function variantOption(variant, isDefault) {
  const option = document.createElement('option');
  option.value = variant.name;
  const size = `${(variant.gzip_bytes / KIB).toFixed(1)} KiB gzip`;
  let accuracy = 'accuracy not measured';
  if (typeof variant.accuracy === 'number') accuracy = `${(variant.accuracy * 100).toFixed(2)}% test accuracy`;
  if (variant.passed === false) accuracy += ', below its accuracy floor';
  option.textContent = `${variant.name}: ${size}, ${accuracy}${isDefault ? ' (default)' : ''}`;
  return option;
}

/** Selects the variant called `name` in the selector, or none when `name` is null. */
export function showVariant(name) {
  elements.variantSelect.value = name ?? '';
}

/** Draws the 28×28 model input (0..255, light on dark) on the enlarged view. */
export function showModelInput(input) {
  const context = elements.modelInput.getContext('2d');
  const image = context.createImageData(IMAGE_SIZE, IMAGE_SIZE);
  for (let i = 0; i < input.length; i++) {
    const value = Math.round(input[i]);
    image.data.set([value, value, value, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

/** Empties the model-input view, after an input failed. */
export function clearModelInput() {
  const canvas = elements.modelInput;
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
}

/** Shows an uploaded picture scaled to fit its canvas, or hides the canvas when given null. */
export function showUploadPreview(rgba) {
  const canvas = elements.uploadPreview;
  canvas.hidden = rgba === null;
  if (rgba === null) return;
  const source = new OffscreenCanvas(rgba.width, rgba.height);
  source.getContext('2d').putImageData(new ImageData(rgba.data, rgba.width, rgba.height), 0, 0);
  const scale = Math.min(canvas.width / rgba.width, canvas.height / rgba.height);
  const width = rgba.width * scale;
  const height = rgba.height * scale;
  const context = canvas.getContext('2d');
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.drawImage(source, (canvas.width - width) / 2, (canvas.height - height) / 2, width, height);
}

/**
 * Shows a prediction and records it on #result as data attributes.
 *
 * @param {{probabilities: Float32Array, labels: string[], backend: object, variant: string|null,
 *          inferenceMs: number, source: string, trueLabel: number|null}} result
 *   `variant` is null when the backend runs metadata.json's model because variants.json lists
 *   no variant for it or the site has no variants.json.
 */
export function showResult({ probabilities, labels, backend, variant, inferenceMs, source, trueLabel }) {
  const values = Array.from(probabilities);
  const classIndex = values.indexOf(Math.max(...values));
  const top = values[classIndex];

  elements.prediction.textContent = `${labels[classIndex]} (${(top * 100).toFixed(1)}%)`;
  elements.truth.hidden = trueLabel === null;
  if (trueLabel !== null) {
    const verdict = trueLabel === classIndex ? 'correct' : 'wrong';
    elements.truth.textContent = `True label: ${labels[trueLabel]} (${verdict})`;
  }
  const model = variant === null ? '' : ` ${variant}`;
  elements.runInfo.textContent = `Ran${model} on ${backend.label} [${backend.details}]: inference ${inferenceMs.toFixed(2)} ms`;
  elements.lowConfidence.hidden = top >= LOW_CONFIDENCE;
  elements.lowConfidence.textContent =
    `Low confidence: the top class has only ${(top * 100).toFixed(1)}%. This may not be clothing.`;

  for (const row of elements.bars.children) {
    const value = values[Number(row.dataset.index)];
    row.querySelector('meter').value = value;
    row.querySelector('.bar-value').textContent = `${(value * 100).toFixed(1)}%`;
    row.classList.toggle('top', Number(row.dataset.index) === classIndex);
  }

  const data = elements.result.dataset;
  data.state = 'done';
  data.classIndex = String(classIndex);
  data.label = labels[classIndex];
  data.probabilities = JSON.stringify(values);
  data.backend = backend.name;
  if (variant === null) delete data.variant;
  else data.variant = variant;
  data.inferenceMs = inferenceMs.toFixed(3);
  data.source = source;
  if (trueLabel === null) delete data.trueIndex;
  else data.trueIndex = String(trueLabel);
  data.run = String(Number(data.run || 0) + 1);
}

/** Empties the result area (after clearing the drawing, or when an input fails). */
export function clearResult(state = 'idle') {
  elements.prediction.textContent = '–';
  elements.truth.hidden = true;
  elements.runInfo.textContent = '';
  elements.lowConfidence.hidden = true;
  for (const row of elements.bars.children) {
    row.querySelector('meter').value = 0;
    row.querySelector('.bar-value').textContent = '–';
    row.classList.remove('top');
  }
  const data = elements.result.dataset;
  for (const key of ['classIndex', 'label', 'probabilities', 'backend', 'variant', 'inferenceMs', 'source', 'trueIndex']) {
    delete data[key];
  }
  data.state = state;
  data.run = String(Number(data.run || 0) + 1);
}
