/** `presence status --format`: its own module so the option is defined without loading the command. */
export const StatusFormat = { text: 'text', json: 'json', prometheus: 'prometheus' } as const;
export type StatusFormat = (typeof StatusFormat)[keyof typeof StatusFormat];
