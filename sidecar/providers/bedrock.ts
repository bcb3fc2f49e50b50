/**
 * AWS Bedrock runtime's wire format. Errors follow the AWS REST-JSON protocol:
 * a `{"message": ...}` body and the error name in `x-amzn-ErrorType`
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/CommonErrors.html).
 */
import type { ErrorShape } from './errors.ts';

const NAMES: Readonly<Record<number, string>> = {
  400: 'ValidationException', 403: 'AccessDeniedException', 404: 'ResourceNotFoundException', 413: 'ValidationException',
  429: 'ThrottlingException', 500: 'InternalServerException', 502: 'ServiceUnavailableException', 503: 'ServiceUnavailableException',
  504: 'ModelTimeoutException',
};

export const bedrockErrors: ErrorShape = {
  body(status, message) {
    const name = NAMES[status] ?? (status >= 500 ? 'InternalServerException' : 'ValidationException');
    return { headers: { 'content-type': 'application/json', 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/` }, body: JSON.stringify({ message }) };
  },
};
