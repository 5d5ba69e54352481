"""hosted-engine --deploy: one engine of questions and validators, several front ends."""
