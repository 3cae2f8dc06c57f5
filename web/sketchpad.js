/**
 * Drawing pad: dark strokes on a white canvas from mouse, touch or pen (pointer events).
 *
 * Strokes are kept as point lists, so undo removes the last one and redraws the rest.
 * Preprocessing later inverts the light background, as for any photo.
 */

const BACKGROUND = '#ffffff';
const INK = '#000000';

export class Sketchpad {
  /**
   * @param {HTMLCanvasElement} canvas drawing surface; its width/height attributes set the resolution
   * @param {{onStrokeEnd: () => void}} callbacks called after each finished stroke
   */
  constructor(canvas, { onStrokeEnd }) {
    this.canvas = canvas;
    this.context = canvas.getContext('2d', { willReadFrequently: true });
    this.onStrokeEnd = onStrokeEnd;
    this.strokes = [];
    this.current = null;
    this.brushSize = 16;
    this.enabled = true;

    canvas.addEventListener('pointerdown', (event) => this.#start(event));
    canvas.addEventListener('pointermove', (event) => this.#extend(event));
    canvas.addEventListener('pointerup', (event) => this.#finish(event));
    canvas.addEventListener('pointercancel', (event) => this.#finish(event));
    this.#redraw();
  }

  get isBlank() {
    return this.strokes.length === 0;
  }

  /** Returns the canvas pixels as {data, width, height} RGBA. */
  pixels() {
    const { width, height } = this.canvas;
    return { data: this.context.getImageData(0, 0, width, height).data, width, height };
  }

  undo() {
    this.strokes.pop();
    this.#redraw();
  }

  clear() {
    this.strokes = [];
    this.#redraw();
  }

  #point(event) {
    // The canvas may be scaled by CSS, so map client coordinates to canvas pixels.
    const rect = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * this.canvas.width) / rect.width,
      ((event.clientY - rect.top) * this.canvas.height) / rect.height,
    ];
  }

  #start(event) {
    if (!this.enabled || event.button > 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.current = { pointerId: event.pointerId, size: this.brushSize, points: [this.#point(event)] };
    this.strokes.push(this.current);
    this.#redraw();
  }

  #extend(event) {
    if (!this.current || event.pointerId !== this.current.pointerId) return;
    event.preventDefault();
    // Coalesced events keep fast pen and touch strokes smooth.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) this.current.points.push(this.#point(each));
    // Redraw from scratch, so the pixels depend only on the stroke list and an undo gives
    // back exactly what was there before (stroking a path twice darkens its soft edges).
    this.#redraw();
  }

  #finish(event) {
    if (!this.current || event.pointerId !== this.current.pointerId) return;
    this.current = null;
    this.onStrokeEnd();
  }

  #redraw() {
    this.context.fillStyle = BACKGROUND;
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    for (const stroke of this.strokes) this.#drawStroke(stroke);
  }

  #drawStroke({ size, points }) {
    const context = this.context;
    context.strokeStyle = INK;
    context.fillStyle = INK;
    context.lineWidth = size;
    context.lineCap = 'round';
    context.lineJoin = 'round';
    if (points.length === 1) {
      const [x, y] = points[0];
      context.beginPath();
      context.arc(x, y, size / 2, 0, 2 * Math.PI);
      context.fill();
      return;
    }
    context.beginPath();
    context.moveTo(...points[0]);
    for (const point of points.slice(1)) context.lineTo(...point);
    context.stroke();
  }
}
