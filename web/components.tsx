import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { describe } from "./api.js";

/** A tiny line of the last values (SVG, no library): memory or CPU over the last minutes. */
export function Sparkline(props: { values: Array<number | null>; label: string }) {
  const points = props.values.filter((v): v is number => v !== null);
  if (points.length < 2) return null;
  const max = Math.max(...points, 1e-9);
  const step = 80 / (points.length - 1);
  const d = points.map((v, i) => `${(i * step).toFixed(1)},${(20 - (v / max) * 18).toFixed(1)}`).join(" ");
  return (
    <svg class="spark" viewBox="0 0 80 20" preserveAspectRatio="none" role="img" aria-label={props.label}>
      <polyline points={d} />
    </svg>
  );
}

export function Problems(props: { error: unknown }) {
  if (!props.error) return null;
  return (
    <div class="error" role="alert">
      {describe(props.error).map((line) => (
        <div>{line}</div>
      ))}
    </div>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section>
      <header class="section-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

const PALETTE = ["#2f6fde", "#d9534f", "#3a9d5d", "#e0a030", "#8e5bd0", "#2aa5b8", "#b35c8a", "#6b7280"];

/** A time chart (uPlot): x in seconds, one line (or bar) per series. */
export function Chart(props: { label: string; times: number[]; series: Array<{ name: string; values: Array<number | null> }>; bars?: boolean; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = props.series.map((s) => s.name).join("\u0000");
  useLayoutEffect(() => {
    if (!box.current) return;
    const options: uPlot.Options = {
      width: box.current.clientWidth || 600,
      height: props.height ?? 200,
      legend: { show: true },
      series: [
        {},
        ...props.series.map((s, i) => ({
          label: s.name,
          stroke: PALETTE[i % PALETTE.length],
          fill: props.bars ? `${PALETTE[i % PALETTE.length]}55` : undefined,
          paths: props.bars ? uPlot.paths.bars!({ size: [0.8, 40] }) : undefined,
          points: { show: false },
        })),
      ],
      axes: [{}, { size: 60 }],
    };
    plot.current = new uPlot(options, [props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData, box.current);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: box.current!.clientWidth, height: props.height ?? 200 }));
    resize.observe(box.current);
    return () => (resize.disconnect(), plot.current?.destroy());
  }, [shape, props.bars]);
  useEffect(() => {
    plot.current?.setData([props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
  }, [props.times, props.series]);
  return <div class="chart" ref={box} role="img" aria-label={props.label} data-series={props.series.length} data-points={props.times.length} />;
}

/**
 * A table that renders only the rows in view (plus a margin): ten thousand runs cost what forty do. Rows have one
 * fixed height; the spacer keeps the scroll bar true.
 */
export function VirtualRows<T>(props: { rows: T[]; rowHeight: number; height: number; head: ComponentChildren; row: (item: T, index: number) => ComponentChildren }) {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / props.rowHeight) - 10);
  const last = Math.min(props.rows.length, Math.ceil((top + props.height) / props.rowHeight) + 10);
  return (
    <div class="virtual" style={{ height: `${props.height}px` }} onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}>
      <table>
        <thead>{props.head}</thead>
        <tbody>
          <tr style={{ height: `${first * props.rowHeight}px` }} aria-hidden="true" />
          {props.rows.slice(first, last).map((item, i) => props.row(item, first + i))}
          <tr style={{ height: `${(props.rows.length - last) * props.rowHeight}px` }} aria-hidden="true" />
        </tbody>
      </table>
    </div>
  );
}

/** Marks a page as shown with its data (for the render-speed measure). */
export function useReady(page: string, ready: boolean): void {
  useEffect(() => {
    if (!ready) return;
    document.body.dataset.ready = page;
    performance.mark(`paddock:${page}`);
  }, [ready, page]);
}
