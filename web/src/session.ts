import type { Me } from './api';

/** Who is logged in and what the UI offers them (the server decides anyway). */
export interface Session {
  me: Me;
  canSign: boolean;
  canStore: boolean;
}
