/**
 * A time-series line chart (uPlot): one x axis of times, one or more series sharing a y axis.
 * The chart is created once per mount and fed new data in place; it follows its box's width.
 * uPlot is two fifths of the dashboard's code, so it loads with the first chart, not with the app.
 */
import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';

export interface Series {
  readonly label: string;
  /** A CSS colour. */
  readonly stroke: string;
  /** One value per x; null leaves a gap. */
  readonly values: ReadonlyArray<number | null>;
}

export interface ChartProps {
  readonly title: string;
  /** Times, ms since the epoch. */
  readonly times: readonly number[];
  readonly series: readonly Series[];
  /** Formats a y value for the axis and the legend. */
  readonly unit: (value: number) => string;
  readonly height?: number;
}

function data(times: readonly number[], series: readonly Series[]): uPlot.AlignedData {
  return [times.map((t) => t / 1000), ...series.map((s) => s.values.map((v) => v))] as uPlot.AlignedData;
}

export function Chart({ title, times, series, unit, height = 180 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = series.map((s) => `${s.label}:${s.stroke}`).join('|');

  const latest = useRef(data(times, series));
  latest.current = data(times, series);

  useEffect(() => {
    const element = box.current;
    if (element === null) return undefined;
    let chart: uPlot | undefined;
    let resize: ResizeObserver | undefined;
    let unmounted = false;
    const format = (_u: uPlot, value: number | null): string => (value === null ? '–' : unit(value));
    void import('./uplot.js').then(({ default: UPlot }) => {
      if (unmounted) return;
      const created = new UPlot(
        {
          title,
          width: Math.max(200, element.clientWidth),
          height,
          scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
          axes: [{}, { values: (_u, ticks) => ticks.map((t) => unit(t)), size: 64 }],
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, value: format }))],
          legend: { live: true },
        },
        latest.current,
        element,
      );
      chart = created;
      plot.current = created;
      resize = new ResizeObserver(() => created.setSize({ width: Math.max(200, element.clientWidth), height }));
      resize.observe(element);
    });
    return () => {
      unmounted = true;
      resize?.disconnect();
      chart?.destroy();
      plot.current = null;
    };
    // The series' names and colours shape the chart; their values only feed it (below).
  }, [title, labels, height]);

  useEffect(() => {
    plot.current?.setData(latest.current);
  }, [times, series]);

  return <div class="chart" ref={box} />;
}
