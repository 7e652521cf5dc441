// Component tests: Testing Library's DOM matchers are not used (plain asserts read better
// here); each test starts with empty storage and an unmounted page.
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => {
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
  location.hash = '';
});
