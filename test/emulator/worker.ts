import { createEmulator } from './app';

/** The emulator in a workerd module worker (the `emulator` auxiliary worker of the test pool). */
export default createEmulator();
