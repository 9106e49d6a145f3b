/** `presence-maint/socketio`: what the platform's app installs on its Socket.IO servers. */
export { listenPresenceEndpoint, presenceEndpoint, type PresenceEndpointOptions, type PresenceRequestHandler } from './endpoint.ts';
export { presenceResponder, type PresenceResponderOptions } from './responder.ts';
