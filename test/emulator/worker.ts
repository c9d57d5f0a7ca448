import { createEmulator } from './app';

/** The emulator as a workerd module worker (the `emulator` auxiliary worker of the test pool). */
export default createEmulator();
