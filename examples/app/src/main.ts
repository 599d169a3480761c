import { App } from 'aws-cdk-lib';
import { buildApp } from './stages';

const app = new App();
buildApp(app);
app.synth();
