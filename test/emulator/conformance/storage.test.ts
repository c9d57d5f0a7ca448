import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CANARY_INTERNAL } from '../../emulator/canaries';
import { bearer, createThread, freshEmulator, loginAndGetProjectToken } from '../../helpers/emulator';
import { JsonObject, parseJson } from '../../helpers/json';

const emu = freshEmulator('storage');
const base = emu.baseUrl;
let project = '';

function call(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, headers: bearer(token) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...bearer(token), 'content-type': 'application/json' };
  }
  return fetch(`${base}${path}`, init);
}

beforeAll(async () => {
  await emu.reset();
  await emu.configure({ rate_limit_per_minute: 10_000 });
  ({ projectToken: project } = await loginAndGetProjectToken(base, 'proj_acme'));
});

beforeEach(async () => {
  await emu.configure({ list_shape: 'array' });
});

describe('files', () => {
  it('uploads multipart (size = real bytes), lists and deletes', async () => {
    const form = new FormData();
    const bytes = new Uint8Array(1234).fill(7);
    form.append('file', new File([bytes], 'report.pdf', { type: 'application/pdf' }));
    form.append('purpose', 'retrieval');
    const res = await fetch(`${base}/files/`, { method: 'POST', headers: bearer(project), body: form });
    expect(res.status).toBe(201);
    const f = await parseJson(res, z.looseObject({ file_id: z.string() }));
    expect(f).toMatchObject({
      filename: 'report.pdf',
      size: 1234,
      mime_type: 'application/pdf',
      purpose: 'retrieval',
      uploaded_at: expect.any(String),
      _internal: CANARY_INTERNAL,
    });
    const list = await parseJson(await call('GET', '/files', project), z.array(JsonObject));
    expect(list.find((x) => x.file_id === f.file_id)).toMatchObject({
      size: 1234,
      _internal: CANARY_INTERNAL,
    });
    await emu.configure({ list_shape: 'object' });
    expect(await (await call('GET', '/files/', project)).json()).toMatchObject({ files: expect.any(Array) });
    expect((await call('DELETE', `/files/${f.file_id}`, project)).status).toBe(204);
    expect((await call('DELETE', `/files/${f.file_id}`, project)).status).toBe(404);
  });

  it('answers 422 for a missing file or a bad purpose', async () => {
    const noFile = new FormData();
    noFile.append('purpose', 'assistants');
    const r1 = await fetch(`${base}/files/`, { method: 'POST', headers: bearer(project), body: noFile });
    expect(r1.status).toBe(422);
    expect(await r1.json()).toMatchObject({ field: 'file' });
    const badPurpose = new FormData();
    badPurpose.append('file', new File(['x'], 'a.txt', { type: 'text/plain' }));
    badPurpose.append('purpose', 'fun');
    const r2 = await fetch(`${base}/files/`, { method: 'POST', headers: bearer(project), body: badPurpose });
    expect(await r2.json()).toMatchObject({ error: 'Validation Error', field: 'purpose' });
  });
});

describe('virtual database', () => {
  it('PUT then GET a key, GET the whole state, 404 for an absent key', async () => {
    const id = await createThread(base, project);
    const db = `/db/proj_acme/${id}`;
    expect(await (await call('GET', db, project)).json()).toEqual({});
    const absent = await call('GET', `${db}/prefs`, project);
    expect(absent.status).toBe(404);
    expect(await absent.json()).toMatchObject({ error: 'Not Found' });
    const value = { theme: 'light', language: 'es' };
    const put = await call('PUT', `${db}/prefs`, project, { value });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ success: true, key: 'prefs', value });
    expect(await (await call('GET', `${db}/prefs`, project)).json()).toEqual(value);
    await call('PUT', `${db}/status`, project, { value: 'active' });
    expect(await (await call('GET', db, project)).json()).toEqual({ prefs: value, status: 'active' });
    expect((await call('PUT', `${db}/x`, project, { nope: 1 })).status).toBe(422);
    expect((await call('GET', '/db/proj_acme/thread_nope', project)).status).toBe(404);
  });
});
