/** The chats table: which thread of a user each Vercel AI SDK chat id names (contract 4b). */
export const CHAT_SCHEMA = `
  CREATE TABLE IF NOT EXISTS chats (
    user TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    PRIMARY KEY (user, chat_id)
  );
  CREATE INDEX IF NOT EXISTS chats_by_thread ON chats (thread_id);
`;

/** What a chat id names right now. */
export type ChatBinding =
  | { state: 'thread'; threadId: string }
  /** Its thread is being created (a reservation not yet committed or given back). */
  | { state: 'creating' }
  | { state: 'none' };

/**
 * A user's chat ids and the threads they name, in the tenant object's SQLite storage
 * next to the threads table it joins. A chat is bound to the reservation of its thread
 * at admission (so two first messages cannot both create one), moves to the thread when
 * the creation is committed, and is unbound when the creation is given back. A binding
 * whose thread is gone (deleted, or a reservation the alarm swept) names nothing: the
 * next message creates a thread again.
 */
export class ChatBook {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  find(user: string, chatId: string, now: number): ChatBinding {
    const row = this.sql
      .exec<{ thread_id: string; reserved_until: number | null }>(
        `SELECT c.thread_id, t.reserved_until FROM chats c
         JOIN threads t ON t.thread_id = c.thread_id AND t.user = c.user
         WHERE c.user = ? AND c.chat_id = ?`,
        user,
        chatId,
      )
      .toArray()[0];
    if (!row) return { state: 'none' };
    if (row.reserved_until === null) return { state: 'thread', threadId: row.thread_id };
    return row.reserved_until > now ? { state: 'creating' } : { state: 'none' };
  }

  /** Binds the chat to the reservation its thread is being created under. */
  bind(user: string, chatId: string, reservation: string): void {
    this.sql.exec(
      'INSERT OR REPLACE INTO chats (user, chat_id, thread_id) VALUES (?, ?, ?)',
      user,
      chatId,
      reservation,
    );
  }

  /** The reservation became `threadId`: the chats bound to it now name the thread. */
  commit(user: string, reservation: string, threadId: string): void {
    this.sql.exec(
      'UPDATE chats SET thread_id = ? WHERE user = ? AND thread_id = ?',
      threadId,
      user,
      reservation,
    );
  }

  /** Forgets every chat of `user` naming `threadId` (a reservation given back, a thread deleted). */
  forget(user: string, threadId: string): void {
    this.sql.exec('DELETE FROM chats WHERE user = ? AND thread_id = ?', user, threadId);
  }
}
