/** uPlot and its stylesheet, loaded on demand: only the subscription page draws charts. */
import 'uplot/dist/uPlot.min.css';

export { default } from 'uplot';
