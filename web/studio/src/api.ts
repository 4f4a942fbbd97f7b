// Calls to the studio's backend. The token comes in the URL the command
// printed; it is sent in a header on every call (the backend refuses calls
// without it) and dropped from the address bar.

const TOKEN_HEADER = 'X-Chatflow-Studio-Token';

function token(): string {
  const q = new URLSearchParams(window.location.search).get('token');
  if (q) {
    sessionStorage.setItem('chatflow-studio-token', q);
    const url = new URL(window.location.href);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.toString());
    return q;
  }
  return sessionStorage.getItem('chatflow-studio-token') ?? '';
}

const tok = typeof window !== 'undefined' ? token() : '';

export class ApiError extends Error {
  constructor(message: string, public status: number, public body: any) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { [TOKEN_HEADER]: tok, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data: any;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: text };
  }
  if (!res.ok) throw new ApiError(data.error ?? res.statusText, res.status, data);
  return data as T;
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body: unknown) => call<T>('POST', path, body);
