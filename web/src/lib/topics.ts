// The topics a question is about (the API's JobRequest.topic enum, fortune.Topics).
import type { components } from './api-types';

export type Topic = NonNullable<components['schemas']['JobRequest']['topic']>;
export const topics: Topic[] = ['overall', 'family', 'marriage', 'wealth', 'career', 'health', 'travel', 'lawsuit', 'lost'];
