// The image viewer: cornerstone3D stack viewports over mira's own WADO-RS.
//
// Image ids are `wadors:` URLs of frames; the dicom-image-loader needs each instance's DICOM
// JSON registered first, which comes from the series' WADO-RS metadata. AI findings are drawn
// in an SVG layer over the viewport, mapped from image pixels to the canvas on every render,
// so they follow scroll, zoom and pan.

import {
  Enums as csEnums,
  RenderingEngine,
  eventTarget,
  init as csInit,
  utilities as csUtils,
  type Types,
} from '@cornerstonejs/core';
import {
  Enums as toolEnums,
  LengthTool,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  annotation,
  init as toolsInit,
  utilities as toolUtils,
} from '@cornerstonejs/tools';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';
import type { Finding, SeriesInfo } from './api';
import { h } from './dom';

export const PRESETS: Record<string, { window: number; level: number }> = {
  lung: { window: 1500, level: -600 },
  mediastinum: { window: 350, level: 50 },
  bone: { window: 2000, level: 500 },
};

export type ToolName = 'wl' | 'pan' | 'zoom' | 'length';
const TOOL_NAMES: Record<ToolName, string> = {
  wl: WindowLevelTool.toolName,
  pan: PanTool.toolName,
  zoom: ZoomTool.toolName,
  length: LengthTool.toolName,
};

let initialised: Promise<void> | null = null;

function ensureInit(): Promise<void> {
  initialised ??= (async () => {
    csInit();
    dicomImageLoader.init({
      maxWebWorkers: Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2))),
    });
    toolsInit();
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool]) addTool(tool);
  })();
  return initialised;
}

/** DICOM JSON attribute value. */
function value(instance: any, tag: string): any {
  return instance?.[tag]?.Value?.[0];
}

interface Slice {
  imageId: string;
  sop: string;
  frame: number;
}

let nextId = 0;

export class Viewer {
  readonly element: HTMLDivElement;
  private readonly canvasHost: HTMLDivElement;
  private readonly svg: SVGSVGElement;
  private engine!: RenderingEngine;
  private readonly viewportId: string;
  private readonly toolGroupId: string;
  private slices: Slice[] = [];
  private findings: Finding[] = [];
  private showOverlays = true;
  private seriesUid = '';
  private listeners: [EventTarget, string, EventListener][] = [];
  /** Called with (index, count) when the slice changes. */
  onSlice: (index: number, count: number) => void = () => {};

  constructor(container: HTMLElement) {
    const id = ++nextId;
    this.viewportId = `mira-vp-${id}`;
    this.toolGroupId = `mira-tg-${id}`;
    this.canvasHost = h('div.cs-viewport', { oncontextmenu: (e: Event) => e.preventDefault() });
    this.svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    this.svg.classList.add('overlay');
    this.svg.id = 'ai-overlay';
    this.element = h('div.viewer-stage#viewer-stage', this.canvasHost);
    this.element.append(this.svg);
    container.append(this.element);
    this.engineId = `mira-re-${id}`;
  }

  private readonly engineId: string;

  /** Sets up cornerstone (once per page) and the viewport and its tools. */
  async init(): Promise<void> {
    await ensureInit();
    this.engine = new RenderingEngine(this.engineId);
    this.engine.enableElement({
      viewportId: this.viewportId,
      type: csEnums.ViewportType.STACK,
      element: this.canvasHost,
      defaultOptions: { background: [0, 0, 0] as Types.Point3 },
    });
    const group = ToolGroupManager.createToolGroup(this.toolGroupId)!;
    for (const name of Object.values(TOOL_NAMES)) group.addTool(name);
    group.addTool(StackScrollTool.toolName);
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: toolEnums.MouseBindings.Wheel }] });
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: toolEnums.MouseBindings.Auxiliary }] });
    group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: toolEnums.MouseBindings.Secondary }] });
    group.addViewport(this.viewportId, this.engine.id);
    this.setTool('wl');
    const redraw = () => this.drawOverlays();
    this.listen(this.canvasHost, csEnums.Events.IMAGE_RENDERED, redraw);
    this.listen(this.canvasHost, csEnums.Events.CAMERA_MODIFIED, redraw);
    this.listen(this.canvasHost, csEnums.Events.STACK_NEW_IMAGE, () => {
      this.onSlice(this.index(), this.slices.length);
      redraw();
    });
    const resize = () => {
      this.engine.resize(true, true);
      redraw();
    };
    this.listen(window, 'resize', resize);
  }

  private listen(target: EventTarget, type: string, fn: EventListener): void {
    target.addEventListener(type, fn);
    this.listeners.push([target, type, fn]);
  }

  private get viewport(): Types.IStackViewport {
    return this.engine.getViewport(this.viewportId) as Types.IStackViewport;
  }

  /** Loads a series: its metadata, then the stack; resolves when the first image is shown. */
  async loadSeries(studyUid: string, series: SeriesInfo, initialSop?: string): Promise<void> {
    const base = `${location.origin}/dicom-web/studies/${encodeURIComponent(studyUid)}/series/${encodeURIComponent(series.series_instance_uid)}`;
    const response = await fetch(`${base}/metadata`, {
      credentials: 'same-origin',
      headers: { Accept: 'application/dicom+json' },
    });
    if (!response.ok) throw new Error(`metadata: ${response.status}`);
    const instances: any[] = await response.json();
    const order = new Map(series.instances.map((i, n) => [i.sop_instance_uid, n]));
    const z = (i: any) => {
      const pos = i['00200032']?.Value;
      return Array.isArray(pos) && pos.length === 3 ? Number(pos[2]) : 0;
    };
    instances.sort((a, b) => {
      const oa = order.get(value(a, '00080018')), ob = order.get(value(b, '00080018'));
      if (oa !== undefined && ob !== undefined) return oa - ob;
      const na = Number(value(a, '00200013') ?? 0), nb = Number(value(b, '00200013') ?? 0);
      return na - nb || z(a) - z(b);
    });
    const slices: Slice[] = [];
    for (const instance of instances) {
      const sop = value(instance, '00080018');
      if (!sop || !instance['7FE00010']) continue; // no pixel data: not an image
      const frames = Number(value(instance, '00280008') ?? 1) || 1;
      const url = `${base}/instances/${encodeURIComponent(sop)}/frames/`;
      dicomImageLoader.wadors.metaDataManager.add(`wadors:${url}1`, instance);
      for (let f = 1; f <= frames; f++) slices.push({ imageId: `wadors:${url}${f}`, sop, frame: f });
    }
    if (!slices.length) throw new Error('no images in this series');
    this.slices = slices;
    this.seriesUid = series.series_instance_uid;
    const start = Math.max(0, initialSop ? slices.findIndex((s) => s.sop === initialSop) : 0);
    await this.viewport.setStack(slices.map((s) => s.imageId), start);
    if (slices.length > 1) toolUtils.stackPrefetch.enable(this.canvasHost);
    this.viewport.render();
    this.onSlice(this.index(), slices.length);
  }

  get series(): string {
    return this.seriesUid;
  }

  index(): number {
    return this.viewport?.getCurrentImageIdIndex() ?? 0;
  }

  count(): number {
    return this.slices.length;
  }

  currentSlice(): Slice | undefined {
    return this.slices[this.index()];
  }

  async goToIndex(index: number): Promise<void> {
    const i = Math.max(0, Math.min(this.slices.length - 1, index));
    await this.viewport.setImageIdIndex(i);
  }

  /** Shows the image of `sop` (and `frame`); false when it is not in the loaded series. */
  async goTo(sop: string, frame?: number | null): Promise<boolean> {
    const i = this.slices.findIndex((s) => s.sop === sop && (!frame || s.frame === frame));
    if (i < 0) return false;
    await this.goToIndex(i);
    return true;
  }

  setPreset(name: string): void {
    if (!(name in PRESETS)) return;
    const { window: w, level: l } = PRESETS[name];
    this.viewport.setProperties({ voiRange: { lower: l - w / 2, upper: l + w / 2 } });
    this.viewport.render();
  }

  reset(): void {
    this.viewport.resetCamera();
    this.viewport.resetProperties();
    this.viewport.render();
  }

  setTool(tool: ToolName): void {
    const group = ToolGroupManager.getToolGroup(this.toolGroupId);
    if (!group) return;
    for (const [key, name] of Object.entries(TOOL_NAMES)) {
      if (key === tool) continue;
      // pan and zoom keep their middle and right buttons
      if (key === 'pan' || key === 'zoom') {
        group.setToolActive(name, {
          bindings: [{ mouseButton: key === 'pan' ? toolEnums.MouseBindings.Auxiliary : toolEnums.MouseBindings.Secondary }],
        });
      } else {
        group.setToolPassive(name);
      }
    }
    group.setToolActive(TOOL_NAMES[tool], { bindings: [{ mouseButton: toolEnums.MouseBindings.Primary }] });
  }

  /**
   * The last length measurement on the shown image: its end points in image pixels (column,
   * row) and its length in mm.
   */
  lastMeasurement(): { points: [number, number][]; length_mm: number } | null {
    const slice = this.currentSlice();
    if (!slice) return null;
    const all = annotation.state.getAnnotations(LengthTool.toolName, this.canvasHost) ?? [];
    const mine = all.filter((a: any) => a.metadata?.referencedImageId === slice.imageId);
    const last: any = mine[mine.length - 1];
    if (!last) return null;
    const points = (last.data.handles.points as Types.Point3[]).map((p) => {
      const [x, y] = csUtils.worldToImageCoords(slice.imageId, p) ?? [0, 0];
      return [Math.round(x * 10) / 10, Math.round(y * 10) / 10] as [number, number];
    });
    const stats: any = Object.values(last.data.cachedStats ?? {})[0];
    let length = Number(stats?.length);
    if (!Number.isFinite(length)) {
      const [a, b] = last.data.handles.points as Types.Point3[];
      length = Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    }
    return { points, length_mm: Math.round(length * 10) / 10 };
  }

  setFindings(findings: Finding[]): void {
    this.findings = findings;
    this.drawOverlays();
  }

  setOverlaysVisible(on: boolean): void {
    this.showOverlays = on;
    this.drawOverlays();
  }

  /** Draws the findings on the shown image in the SVG layer. */
  private drawOverlays(): void {
    const svg = this.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const rect = this.canvasHost.getBoundingClientRect();
    svg.setAttribute('width', String(rect.width));
    svg.setAttribute('height', String(rect.height));
    const slice = this.currentSlice();
    if (!slice || !this.showOverlays) return;
    const vp = this.viewport;
    if (!vp || !vp.getImageData()) return;
    const ns = 'http://www.w3.org/2000/svg';
    let drawn = 0;
    for (const f of this.findings) {
      const img = f.image;
      if (!img || img.sop_instance_uid !== slice.sop || (img.frame && img.frame !== slice.frame)) continue;
      const toCanvas = (p: [number, number]) => {
        const world = csUtils.imageToWorldCoords(slice.imageId, p as Types.Point2);
        return world ? vp.worldToCanvas(world) : ([0, 0] as Types.Point2);
      };
      const g = document.createElementNS(ns, 'g');
      g.setAttribute('data-finding', f.id);
      g.setAttribute('class', `finding decision-${f.decision.decision}`);
      const pts = img.points.map(toCanvas);
      if (img.shape === 'box' && pts.length >= 2) {
        const [a, b] = pts;
        const r = document.createElementNS(ns, 'rect');
        r.setAttribute('x', String(Math.min(a[0], b[0])));
        r.setAttribute('y', String(Math.min(a[1], b[1])));
        r.setAttribute('width', String(Math.abs(a[0] - b[0])));
        r.setAttribute('height', String(Math.abs(a[1] - b[1])));
        g.append(r);
      } else {
        // lung nodules: long axis, then short axis
        for (let i = 0; i + 1 < pts.length; i += 2) {
          const l = document.createElementNS(ns, 'polyline');
          l.setAttribute('points', `${pts[i][0]},${pts[i][1]} ${pts[i + 1][0]},${pts[i + 1][1]}`);
          l.setAttribute('class', i === 0 ? 'long' : 'short');
          g.append(l);
        }
      }
      const top = pts.reduce((m, p) => (p[1] < m[1] ? p : m), pts[0] ?? [0, 0]);
      const label = document.createElementNS(ns, 'text');
      label.setAttribute('x', String(top[0] + 6));
      label.setAttribute('y', String(top[1] - 8));
      label.textContent = f.nodule ? `${f.nodule.long_axis_mm}×${f.nodule.short_axis_mm} mm` : f.label;
      g.append(label);
      svg.append(g);
      drawn++;
    }
    this.element.setAttribute('data-overlays', String(drawn));
  }

  destroy(): void {
    for (const [t, type, fn] of this.listeners) t.removeEventListener(type, fn);
    try {
      toolUtils.stackPrefetch.disable(this.canvasHost);
    } catch {
      /* not enabled */
    }
    ToolGroupManager.destroyToolGroup(this.toolGroupId);
    this.engine?.destroy();
  }
}

/** `true` once the global image-load events say an image failed (for the status line). */
export function onImageLoadFailed(fn: (detail: unknown) => void): () => void {
  const listener = (e: Event) => fn((e as CustomEvent).detail);
  eventTarget.addEventListener(csEnums.Events.IMAGE_LOAD_FAILED, listener);
  return () => eventTarget.removeEventListener(csEnums.Events.IMAGE_LOAD_FAILED, listener);
}
