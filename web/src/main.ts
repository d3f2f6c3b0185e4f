import './style.css';
import { api, ApiError } from './api';
import { clear, h } from './dom';
import { lang, setLang, t } from './i18n';
import { navigate } from './nav';
import { renderWorklist } from './worklist';
import { renderUpload } from './upload';
import { renderStudy } from './study';
import type { Session } from './session';


const root = document.getElementById('app')!;
let session: Session | null = null;
/** Called when the page is left (timers, viewers). */
let teardown: (() => void) | null = null;


function header(s: Session | null): HTMLElement {
  const langButton = h('button.link#lang-toggle', { type: 'button', onclick: () => {
    setLang(lang() === 'zh-CN' ? 'en' : 'zh-CN');
    void route();
  } }, t('language'));
  if (!s) return h('header.top', h('span.brand', t('app_title')), h('span.spacer'), langButton);
  const roles = s.me.roles.map((r) => t(`role_${r}`)).join(', ');
  return h(
    'header.top',
    h('span.brand', t('app_title')),
    h('nav', h('a', { href: '#/worklist' }, t('nav_worklist')), s.canStore ? h('a#nav-upload', { href: '#/upload' }, t('nav_upload')) : null),
    h('span.spacer'),
    h('span.who#who', { 'data-roles': s.me.roles.join(' ') }, `${s.me.display_name} · ${t('role')}: ${roles}`),
    langButton,
    h('button.link#logout', { type: 'button', onclick: async () => {
      try { await api.logout(); } catch { /* the session may be gone already */ }
      session = null;
      navigate('#/login');
    } }, t('logout')),
  );
}

function renderLogin(main: HTMLElement): void {
  const user = h('input#login-user', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input#login-password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p.error#login-error');
  const form = h('form.login#login-form', h('h1', t('login')),
    h('label', t('username'), user), h('label', t('password'), password), error,
    h('button.primary#login-submit', { type: 'submit' }, t('login')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await api.login(user.value.trim(), password.value);
      session = null;
      navigate('#/worklist');
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? t('login_failed') : String((err as Error).message);
    }
  });
  main.append(form);
  user.focus();
}

async function loadSession(): Promise<Session | null> {
  try {
    const me = await api.me();
    return { me, canSign: me.permissions.includes('sign'), canStore: me.permissions.includes('store') };
  } catch {
    return null;
  }
}

async function route(): Promise<void> {
  teardown?.();
  teardown = null;
  document.documentElement.lang = lang();
  document.title = t('app_title');
  const path = location.hash.replace(/^#/, '') || '/worklist';
  if (path !== '/login' && !session) session = await loadSession();
  if (path !== '/login' && !session) {
    location.hash = '#/login';
    return;
  }
  clear(root);
  const main = h('main');
  root.append(header(path === '/login' ? null : session), main);
  if (path === '/login') {
    renderLogin(main);
  } else if (path === '/upload') {
    teardown = renderUpload(main);
  } else if (path.startsWith('/study/')) {
    teardown = renderStudy(main, decodeURIComponent(path.slice('/study/'.length)), session!);
  } else {
    teardown = renderWorklist(main, session!);
  }
}

window.addEventListener('hashchange', () => void route());
window.addEventListener('mira:unauthorized', () => {
  session = null;
  if (location.hash !== '#/login') location.hash = '#/login';
});
void route();
