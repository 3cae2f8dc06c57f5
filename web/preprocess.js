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
// An image whose brightest pixel is less than this many grey levels (0..255) above the background
// is blank. Without it, sensor noise on a photo of an empty sheet is stretched to 255.
export const MIN_CONTRAST = 32;
// After background removal, pixels above this value belong to the object's bounding box.
export const TRIM_THRESHOLD = 32;
// The trimmed box's longest edge must be at least this fraction of the image's longest edge. A
// smaller object is a speck or a far-away garment, and enlarging it to 28 px gives the model
// nothing it was trained on. 4% is 11 px on the 280 px drawing pad.
export const MIN_OBJECT_FRACTION = 0.04;
// ITU-R BT.601 luma weights, as Pillow's "L" mode uses.
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

const FORMAT_NAMES = 'a PNG, JPEG, WebP or GIF image';
// Read for the format check and the stored size. A JPEG's EXIF block (up to 64 KiB each, with
// its thumbnail) comes before the frame header, so read well past it.
const HEADER_BYTES = 256 * 1024;

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
  const header = new Uint8Array(await file.slice(0, HEADER_BYTES).arrayBuffer());
  const format = sniffFormat(header);
  if (format === null) {
    throw new ImageInputError(`${name} is not ${FORMAT_NAMES}.`);
  }

  // The longest edge does not depend on EXIF orientation, so the stored size in the header
  // is enough to decide whether to scale down. Only then is the oriented size needed, and an <img> element
  // reads it from the header without decoding the pixels, so a 6000×4000 photo is decoded
  // straight to the bounded size and never to a full-size buffer.
  const stored = readHeaderSize(header, format);
  let oriented = null;
  if (stored === null || Math.max(stored.width, stored.height) > MAX_WORKING_EDGE) {
    oriented = await readOrientedSize(file, name, format);
  }
  const options = { colorSpaceConversion: 'none', imageOrientation: 'from-image' };
  const longest = oriented ? Math.max(oriented.width, oriented.height) : 0;
  if (longest > MAX_WORKING_EDGE) {
    options.resizeWidth = Math.max(1, Math.round((oriented.width * MAX_WORKING_EDGE) / longest));
    options.resizeHeight = Math.max(1, Math.round((oriented.height * MAX_WORKING_EDGE) / longest));
    options.resizeQuality = 'high';
  }

  let bitmap;
  try {
    bitmap = await createImageBitmap(file, options);
  } catch (error) {
    throw new ImageInputError(`${name} looks like ${format} but the browser could not decode it (${error.message}).`);
  }
  try {
    const rgba = bitmapToRgba(bitmap);
    const original = oriented ?? { width: rgba.width, height: rgba.height };
    return { ...rgba, format, originalWidth: original.width, originalHeight: original.height };
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

/**
 * Returns the stored {width, height} from an image header (before EXIF orientation), or null
 * when the header is cut short or not understood.
 */
export function readHeaderSize(bytes, format) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'PNG') return bytes.length >= 24 ? { width: view.getUint32(16), height: view.getUint32(20) } : null;
  if (format === 'GIF') return bytes.length >= 10 ? { width: view.getUint16(6, true), height: view.getUint16(8, true) } : null;
  if (format === 'WebP') return readWebpSize(view);
  if (format === 'JPEG') return readJpegSize(view);
  return null;
}

// WebP: the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended), each with its own layout.
function readWebpSize(view) {
  if (view.byteLength < 30) return null;
  const chunk = String.fromCharCode(view.getUint8(12), view.getUint8(13), view.getUint8(14), view.getUint8(15));
  const uint24 = (offset) => view.getUint8(offset) | (view.getUint8(offset + 1) << 8) | (view.getUint8(offset + 2) << 16);
  if (chunk === 'VP8X') return { width: 1 + uint24(24), height: 1 + uint24(27) };
  if (chunk === 'VP8L') {
    const bits = view.getUint32(21, true); // 14 bits width − 1, then 14 bits height − 1
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
  }
  if (chunk === 'VP8 ') return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
  return null;
}

// JPEG: walk the marker segments up to the start-of-frame segment, which contains the size.
function readJpegSize(view) {
  let offset = 2;
  while (offset + 9 <= view.byteLength) {
    if (view.getUint8(offset) !== 0xff) return null;
    const marker = view.getUint8(offset + 1);
    if (marker === 0xff) {
      offset += 1; // fill byte before a marker
      continue;
    }
    // SOF0 to SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: view.getUint16(offset + 5), width: view.getUint16(offset + 7) };
    }
    offset += 2 + view.getUint16(offset + 2);
  }
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
 * `source` is 'upload' or 'drawing' and only chooses the wording of errors. `originalWidth` and
 * `originalHeight` are the file's size before decodeImageFile scaled it down, so that a message
 * gives sizes in the file's own pixels.
 *
 * Returns a Float32Array(IMAGE_SIZE * IMAGE_SIZE) in the model's input contract.
 * Throws ImageInputError when the image is blank (MIN_CONTRAST) or the
 * object is too small (MIN_OBJECT_FRACTION).
 */
export function preprocessRgba(data, width, height, { source = 'upload', originalWidth = width, originalHeight = height } = {}) {
  const gray = toGrayscale(data, width * height);
  const peak = removeBackground(gray, width, height);
  if (peak < MIN_CONTRAST) throw new ImageInputError(blankMessage(source, peak));

  const box = boundingBox(gray, width, height, TRIM_THRESHOLD);
  // Stretching put the maximum at 255, so the box is never empty.
  if (box === null) throw new Error('No pixel above TRIM_THRESHOLD after stretching.');
  if (Math.max(box.width, box.height) < MIN_OBJECT_FRACTION * Math.max(width, height)) {
    throw new ImageInputError(tooSmallMessage(source, box, width, height, originalWidth, originalHeight));
  }
  const long = Math.max(box.width, box.height);
  const fitWidth = box.width === long ? IMAGE_SIZE : Math.max(1, Math.round((box.width * IMAGE_SIZE) / long));
  const fitHeight = box.height === long ? IMAGE_SIZE : Math.max(1, Math.round((box.height * IMAGE_SIZE) / long));
  const fitted = resizeArea(gray, width, box, fitWidth, fitHeight);

  const output = new Float32Array(IMAGE_SIZE * IMAGE_SIZE);
  const left = Math.ceil((IMAGE_SIZE - fitWidth) / 2);
  const top = Math.ceil((IMAGE_SIZE - fitHeight) / 2);
  for (let y = 0; y < fitHeight; y++) {
    for (let x = 0; x < fitWidth; x++) {
      output[(top + y) * IMAGE_SIZE + left + x] = fitted[y * fitWidth + x];
    }
  }
  return output;
}

function blankMessage(source, peak) {
  if (source === 'drawing') return 'Nothing to classify: the drawing is blank. Draw a garment first.';
  return (
    `Nothing to classify: the image is blank (its brightest pixel differs from the background by ${peak.toFixed(1)} ` +
    `grey levels, the minimum is ${MIN_CONTRAST}). Choose a picture of one garment on a plain background.`
  );
}

function tooSmallMessage(source, box, width, height, originalWidth, originalHeight) {
  const percent = `${Math.round(MIN_OBJECT_FRACTION * 100)}%`;
  if (source === 'drawing') {
    return (
      `The drawing is too small to classify: it covers ${box.width}×${box.height} px of the ${width}×${height} pad, ` +
      `and its longest edge must be at least ${percent} of the pad's. Draw larger.`
    );
  }
  // decodeImageFile may have scaled the file down: give the box in the file's own pixels.
  const scale = Math.max(originalWidth, originalHeight) / Math.max(width, height);
  const boxWidth = Math.max(1, Math.round(box.width * scale));
  const boxHeight = Math.max(1, Math.round(box.height * scale));
  const about = scale === 1 ? '' : 'about ';
  return (
    `The object is too small to classify: it covers ${about}${boxWidth}×${boxHeight} px of a ${originalWidth}×${originalHeight} image, ` +
    `and its longest edge must be at least ${percent} of the image's. Crop the photo closer, or choose a picture where the garment is larger.`
  );
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
// Returns the maximum before stretching; below MIN_CONTRAST the caller rejects the image unstretched.
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
  if (max >= MIN_CONTRAST) {
    for (let i = 0; i < gray.length; i++) gray[i] = (gray[i] * 255) / max;
  }
  return max;
}

function borderValues(gray, width, height) {
  if (width <= 2 || height <= 2) return gray; // every pixel is on the border
  const values = [];
  for (let x = 0; x < width; x++) values.push(gray[x], gray[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) values.push(gray[y * width], gray[y * width + width - 1]);
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
      for (let k = columns.offsets[x]; k < columns.offsets[x + 1]; k++) {
        sum += gray[rowStart + columns.indices[k]] * columns.weights[k];
      }
      horizontal[y * outWidth + x] = sum;
    }
  }

  const output = new Float64Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (let k = rows.offsets[y]; k < rows.offsets[y + 1]; k++) {
      const source = rows.indices[k] * outWidth;
      const weight = rows.weights[k];
      for (let x = 0; x < outWidth; x++) output[y * outWidth + x] += horizontal[source + x] * weight;
    }
  }
  return output;
}

// For each output pixel o, the input pixels its span covers: indices[offsets[o]..offsets[o + 1]]
// with weights equal to the overlap length divided by the span, so they sum to 1.
function areaWeights(inSize, outSize) {
  const span = inSize / outSize;
  const offsets = new Int32Array(outSize + 1);
  const indices = [];
  const weights = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * span;
    const end = (o + 1) * span;
    for (let i = Math.floor(start); i < Math.min(inSize, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 0) {
        indices.push(i);
        weights.push(overlap / span);
      }
    }
    offsets[o + 1] = indices.length;
  }
  return { offsets, indices: Int32Array.from(indices), weights: Float64Array.from(weights) };
}
