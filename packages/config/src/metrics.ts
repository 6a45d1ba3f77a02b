/**
 * How often the API's and the worker's event-loop lag metrics (prom-client's default metrics)
 * sample the loop. prom-client's default, 10 ms, is a timer that wakes an idle process 100 times a
 * second: about half of an idle worker's CPU (16 against 8.5 ms a second, docs/performance.md). A
 * stall of 100 ms or more, what the lag figures are read for, is still caught whole.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;
