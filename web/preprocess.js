/**
 * Image preprocessing: turn a drawing or an uploaded picture into the model's input.
 *
 * The steps and constants are the ones in docs/preprocessing.md, which the Python reference
 * (exporter/runtime/preprocess.py) follows too. Output contract: a Float32Array of
 * IMAGE_SIZE × IMAGE_SIZE values, row-major, 0..255, background 0, garment light: the model's
 * "image" input without its batch axis.
 */

export const IMAGE_SIZE = 28;
// Longer images are scaled down while decoding, so no canvas is ever larger than this.
export const MAX_WORKING_EDGE = 1024;
// After background removal, pixels above this value belong to the object's bounding box.
export const TRIM_THRESHOLD = 32;
// ITU-R BT.601 luma weights, as Pillow's "L" mode uses.
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

const FORMAT_NAMES = 'a PNG, JPEG, WebP or GIF image';

/** A problem with the user's input, with a message meant for the page. */
export class ImageInputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/**
 * Decodes an image file to RGBA pixels, applying EXIF orientation once and bounding the size.
 *
 * Returns {data: Uint8ClampedArray, width, height, format, originalWidth, originalHeight}.
 * Throws ImageInputError for empty, unsupported or undecodable files.
 */
export async function decodeImageFile(file) {
  const name = file.name ? `"${file.name}"` : 'The file';
  if (file.size === 0) {
    throw new ImageInputError(`${name} is empty (0 bytes). Choose ${FORMAT_NAMES}.`);
  }
  const format = sniffFormat(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
  if (format === null) {
    throw new ImageInputError(`${name} is not ${FORMAT_NAMES}.`);
  }

  // The <img> element reads the size from the header, after EXIF orientation, without
  // decoding the pixels, so a 6000×4000 photo costs no full-size buffer here.
  const { width, height } = await readOrientedSize(file, name, format);
  const scale = Math.min(1, MAX_WORKING_EDGE / Math.max(width, height));
  const options = { colorSpaceConversion: 'none', imageOrientation: 'from-image' };
  if (scale < 1) {
    options.resizeWidth = Math.max(1, Math.round((width * MAX_WORKING_EDGE) / Math.max(width, height)));
    options.resizeHeight = Math.max(1, Math.round((height * MAX_WORKING_EDGE) / Math.max(width, height)));
    options.resizeQuality = 'high';
  }

  let bitmap;
  try {
    bitmap = await createImageBitmap(file, options);
  } catch (error) {
    throw new ImageInputError(`${name} looks like ${format} but could not be decoded (${error.message}).`);
  }
  try {
    const rgba = bitmapToRgba(bitmap);
    return { ...rgba, format, originalWidth: width, originalHeight: height };
  } finally {
    bitmap.close();
  }
}

/** Returns the format named by a file's magic bytes, or null when it is none of the four. */
export function sniffFormat(bytes) {
  const ascii = (start, end) => String.fromCharCode(...bytes.subarray(start, end));
  if (bytes.length >= 8 && bytes[0] === 0x89 && ascii(1, 4) === 'PNG') return 'PNG';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'JPEG';
  if (bytes.length >= 6 && ascii(0, 4) === 'GIF8') return 'GIF';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  return null;
}

function readOrientedSize(file, name, format) {
  const url = URL.createObjectURL(file);
  const image = new Image();
  return new Promise((resolve, reject) => {
    image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
    image.onerror = () => reject(new ImageInputError(`${name} looks like ${format} but the browser could not decode it.`));
    image.src = url;
  }).finally(() => URL.revokeObjectURL(url));
}

function bitmapToRgba(bitmap) {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  return { data: context.getImageData(0, 0, width, height).data, width, height };
}

/**
 * Runs steps 3 to 9 of the preprocessing on RGBA pixels (row-major, 4 bytes a pixel).
 *
 * Returns a Float32Array(IMAGE_SIZE * IMAGE_SIZE) in the model's input contract.
 * Throws ImageInputError when nothing stands out from the background.
 */
export function preprocessRgba(data, width, height) {
  const gray = toGrayscale(data, width * height);
  removeBackground(gray, width, height);

  const box = boundingBox(gray, width, height, TRIM_THRESHOLD);
  if (box === null) {
    throw new ImageInputError('Nothing to classify: the image is blank. Draw something first, or choose another image.');
  }
  const long = Math.max(box.width, box.height);
  const fitWidth = box.width === long ? IMAGE_SIZE : Math.max(1, Math.round((box.width * IMAGE_SIZE) / long));
  const fitHeight = box.height === long ? IMAGE_SIZE : Math.max(1, Math.round((box.height * IMAGE_SIZE) / long));
  const fitted = resizeArea(gray, width, box, fitWidth, fitHeight);

  const output = new Float32Array(IMAGE_SIZE * IMAGE_SIZE);
  const left = Math.floor((IMAGE_SIZE - fitWidth) / 2);
  const top = Math.floor((IMAGE_SIZE - fitHeight) / 2);
  for (let y = 0; y < fitHeight; y++) {
    for (let x = 0; x < fitWidth; x++) {
      output[(top + y) * IMAGE_SIZE + left + x] = fitted[y * fitWidth + x];
    }
  }
  return output;
}

/** Reads a 28×28 image that is already in the input contract (a data set sample) as-is. */
export function rgbaToModelInput(data, width, height) {
  if (width !== IMAGE_SIZE || height !== IMAGE_SIZE) {
    throw new ImageInputError(`A sample must be ${IMAGE_SIZE}×${IMAGE_SIZE} pixels, not ${width}×${height}.`);
  }
  const output = new Float32Array(IMAGE_SIZE * IMAGE_SIZE);
  for (let i = 0; i < output.length; i++) output[i] = data[4 * i];
  return output;
}

// Steps 3 and 4: composite onto white, then BT.601 luma, kept as float.
function toGrayscale(data, count) {
  const gray = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const alpha = data[4 * i + 3] / 255;
    const white = 255 * (1 - alpha);
    const r = data[4 * i] * alpha + white;
    const g = data[4 * i + 1] * alpha + white;
    const b = data[4 * i + 2] * alpha + white;
    gray[i] = LUMA_R * r + LUMA_G * g + LUMA_B * b;
  }
  return gray;
}

// Steps 5 and 6: invert a light background, subtract the background level, stretch to 255.
function removeBackground(gray, width, height) {
  let background = median(borderValues(gray, width, height));
  const invert = background > 127.5;
  if (invert) background = 255 - background;

  let max = 0;
  for (let i = 0; i < gray.length; i++) {
    const value = Math.max(0, (invert ? 255 - gray[i] : gray[i]) - background);
    gray[i] = value;
    if (value > max) max = value;
  }
  if (max > 0) {
    for (let i = 0; i < gray.length; i++) gray[i] = (gray[i] * 255) / max;
  }
}

function borderValues(gray, width, height) {
  const values = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y === 0 || y === height - 1 || x === 0 || x === width - 1) values.push(gray[y * width + x]);
    }
  }
  return values;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Step 7: the smallest box holding every pixel above the threshold, or null.
function boundingBox(gray, width, height, threshold) {
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (gray[y * width + x] > threshold) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  if (right < 0) return null;
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

// Step 8: area-averaging resize of the box, done per axis (the weights are separable).
function resizeArea(gray, stride, box, outWidth, outHeight) {
  const columns = areaWeights(box.width, outWidth);
  const rows = areaWeights(box.height, outHeight);

  const horizontal = new Float64Array(box.height * outWidth);
  for (let y = 0; y < box.height; y++) {
    const rowStart = (box.top + y) * stride + box.left;
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (const [index, weight] of columns[x]) sum += gray[rowStart + index] * weight;
      horizontal[y * outWidth + x] = sum;
    }
  }

  const output = new Float64Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (const [index, weight] of rows[y]) sum += horizontal[index * outWidth + x] * weight;
      output[y * outWidth + x] = sum;
    }
  }
  return output;
}

// For each output pixel, the [inputIndex, weight] pairs of the input span it covers. The
// weights are the overlap lengths divided by the span, so they sum to 1.
function areaWeights(inSize, outSize) {
  const span = inSize / outSize;
  const weights = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * span;
    const end = (o + 1) * span;
    const pairs = [];
    for (let i = Math.floor(start); i < Math.min(inSize, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 0) pairs.push([i, overlap / span]);
    }
    weights.push(pairs);
  }
  return weights;
}
