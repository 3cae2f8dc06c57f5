/**
 * The model variants a site offers, read from variants.json, and which one the page runs.
 *
 * `python -m exporter verify` writes variants.json next to metadata.json:
 *
 *   {"format_version": 1, "default": "onnx-int8",
 *    "variants": [{"name", "backend", "weights", "path", "bytes", "gzip_bytes", "accuracy"?, "passed"?}, …]}
 *
 * `backend` is a key of BACKENDS in runtimes.js and `path` is the model file relative to the
 * page. `accuracy` (0..1 on the test set, measured in Chromium) and `passed` (the variant kept
 * within its accuracy floor) are present only when verify ran the browser. The file is
 * optional: a site without it runs the float32 models named in metadata.json.
 */

import { BACKENDS, RuntimeLoadError } from './runtimes.js';

export const VARIANTS_URL = 'variants.json';
const FORMAT_VERSION = 1;
const WRITE_HINT = 'Write it again with python -m exporter verify.';

/**
 * Fetches and checks variants.json. Resolves to its parsed content, which the other functions
 * here take as `list`, or to null when the server responds with 404 Not Found.
 */
export async function fetchVariants() {
  let response;
  try {
    response = await fetch(VARIANTS_URL);
  } catch (error) {
    throw new RuntimeLoadError(`Failed to fetch the variant list ${VARIANTS_URL} (${error.message}). Check that the site is still being served.`);
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new RuntimeLoadError(`Failed to fetch the variant list ${VARIANTS_URL} (HTTP ${response.status}).`);

  let list;
  try {
    list = await response.json();
  } catch (error) {
    throw new RuntimeLoadError(`The variant list ${VARIANTS_URL} is not valid JSON (${error.message}). ${WRITE_HINT}`);
  }
  checkVariants(list);
  return list;
}

function checkVariants(list) {
  const problems = [];
  if (list?.format_version !== FORMAT_VERSION) {
    problems.push(`format_version ${JSON.stringify(list?.format_version)} is not ${FORMAT_VERSION}`);
  }
  const variants = Array.isArray(list?.variants) ? list.variants : [];
  if (!variants.length) problems.push('"variants" is not a non-empty list');
  const names = new Set();
  for (const [index, variant] of variants.entries()) {
    const named = typeof variant?.name === 'string' && variant.name !== '';
    const name = named ? variant.name : `entry ${index}`;
    if (!named) problems.push(`entry ${index} has no name`);
    else if (names.has(name)) problems.push(`the name "${name}" appears twice`);
    names.add(name);
    if (!(variant?.backend in BACKENDS)) {
      problems.push(`${name}: backend "${variant?.backend}" is not one of ${Object.keys(BACKENDS).join(', ')}`);
    }
    if (typeof variant?.path !== 'string' || !variant.path) problems.push(`${name}: "path" is missing`);
    if (!Number.isFinite(variant?.gzip_bytes)) problems.push(`${name}: "gzip_bytes" is not a number`);
  }
  if (variants.length && !names.has(list.default)) {
    problems.push(`the default "${list.default}" is not among the variants`);
  }
  if (problems.length) {
    throw new RuntimeLoadError(`${VARIANTS_URL} does not match this page: ${problems.join('; ')}. ${WRITE_HINT}`);
  }
}

/** Returns the variant called `name`, or throws a RuntimeLoadError that lists the valid names. */
export function findVariant(list, name) {
  if (list === null) {
    throw new RuntimeLoadError(
      `This site has no ${VARIANTS_URL}, so it offers no variant "${name}". ` +
        `Write the file with python -m exporter verify, or leave the variant out.`,
    );
  }
  const variant = list.variants.find((candidate) => candidate.name === name);
  if (!variant) {
    const names = list.variants.map((candidate) => candidate.name).join(', ');
    throw new RuntimeLoadError(`Unknown variant "${name}". Use one of: ${names}.`);
  }
  return variant;
}

/**
 * Returns the variant to run on `backend`: the site's default when it runs there, else that
 * backend's float32 model. Returns null when variants.json lists neither, and then the page runs
 * the model that metadata.json names.
 */
export function variantForBackend(list, backend) {
  if (list === null) return null;
  const onBackend = list.variants.filter((variant) => variant.backend === backend);
  return (
    onBackend.find((variant) => variant.name === list.default) ??
    onBackend.find((variant) => variant.weights === 'float32') ??
    null
  );
}

/**
 * Returns the variant the page starts with, from the URL's ?backend= and ?variant= (each a
 * string or null): the requested variant, else the one for the requested backend, else the default.
 */
export function startVariant(list, { backend, variant }) {
  if (variant !== null) {
    const chosen = findVariant(list, variant);
    if (backend !== null && chosen.backend !== backend) {
      throw new RuntimeLoadError(
        `The variant "${variant}" in the URL runs on the ${chosen.backend} backend, not on ${backend}. ` +
          'Remove ?backend= from the URL, or choose a variant of that backend.',
      );
    }
    return chosen;
  }
  if (backend !== null) return variantForBackend(list, backend);
  return list === null ? null : findVariant(list, list.default);
}
