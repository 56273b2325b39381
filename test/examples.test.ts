import { describe, expect, it } from 'vitest';
import { apiTour } from '../examples/api-tour.js';
import { pythonTour } from '../examples/python-tour.js';

describe('README examples', () => {
  it('the API tour does what README says', async () => {
    const { r, bad, area, name } = await apiTour();
    expect(r).toMatchObject({ success: true, value: 21, stdout: 'hi\n', stderr: '', truncated: false, timedOut: false });
    expect(bad.success).toBe(false);
    expect(bad.error).toMatchObject({ type: 'RuntimeError', message: 'input:1: nope', line: 1 });
    expect(area).toBe(12);
    expect(name).toBe('Ann');
  });

  it('the Python tour does what README says', async () => {
    expect(await pythonTour()).toEqual({ name: 'Ann', awaited: 'top-level await works', area: 12 });
  }, 60_000);
});
